"""Test-wide settings: no model hub, small thread count, shared fixtures."""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
# Score cache and workspaces of the whole test session (subprocesses included) stay out of ~/.cache.
os.environ.setdefault("PTB_ENV_CACHE_DIR", tempfile.mkdtemp(prefix="ptb-test-cache-"))
os.environ.setdefault("PTB_ENV_WORKSPACES", tempfile.mkdtemp(prefix="ptb-test-ws-"))
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="ptb-test-datasets-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from ptb_env.paths import TINY_MODEL_DIR  # noqa: E402

HUB_FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "hub")
"""Local mirrors of real benchmark datasets (a handful of items each, in the real file formats)."""


@pytest.fixture(scope="session")
def tiny_model():
    """The shipped tiny base model and tokenizer, loaded once."""
    from ptb_env.inference.transformers_backend import load

    return load(TINY_MODEL_DIR)


def _write_gsm8k_mirror(root, n_train: int = 400, n_test: int = 40):
    """A local mirror of ``openai/gsm8k`` (parquet, columns question/answer) with tiny-world problems.

    Big enough to hold out GSM8K's 200 dev problems and still train; the tiny model can learn it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ptb_env.benchmarks import get_benchmark

    arith = get_benchmark("tiny-arith")
    folder = root / "openai" / "gsm8k" / "main"
    folder.mkdir(parents=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        items = arith.generate(n, seed=seed)
        table = pa.table(
            {
                "question": [it.messages[-1]["content"] for it in items],
                "answer": [f"{it.target.split('####')[0].strip()}\n#### {it.answer}" for it in items],
            }
        )
        pq.write_table(table, folder / f"{split}-00000-of-00001.parquet")
    return root


@pytest.fixture(scope="session")
def write_gsm8k_mirror():
    """``write_gsm8k_mirror(root, n_train=400, n_test=40)``: a GSM8K mirror in the real format."""
    return _write_gsm8k_mirror
