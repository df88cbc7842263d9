"""Test-wide settings: no model hub, small thread count, shared fixtures."""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
# Score cache and workspaces of the whole test session (subprocesses included) stay out of ~/.cache.
os.environ.setdefault("PTB_ENV_CACHE_DIR", tempfile.mkdtemp(prefix="ptb-test-cache-"))
os.environ.setdefault("PTB_ENV_WORKSPACES", tempfile.mkdtemp(prefix="ptb-test-ws-"))
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from ptb_env.paths import TINY_MODEL_DIR  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model():
    """The shipped tiny base model and tokenizer, loaded once."""
    from ptb_env.inference.transformers_backend import load

    return load(TINY_MODEL_DIR)
