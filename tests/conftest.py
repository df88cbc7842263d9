"""Test-wide settings: no model hub, small thread count, shared fixtures."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"


def _session_dir(var: str, prefix: str) -> None:
    """Point ``var`` at a new temporary folder unless it is set (pytest-xdist's workers inherit
    the controller's); the process that made the folder removes it when it exits."""
    if not os.environ.get(var):
        os.environ[var] = path = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, path, ignore_errors=True)


# Score cache and workspaces of the whole test session (subprocesses included) stay out of ~/.cache.
_session_dir("PTB_ENV_CACHE_DIR", "ptb-test-cache-")
_session_dir("PTB_ENV_WORKSPACES", "ptb-test-ws-")
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
_session_dir("HF_DATASETS_CACHE", "ptb-test-datasets-")
_session_dir("PTB_TEST_SHARED_DIR", "ptb-test-shared-")
"""Results that tests of several files (and so several xdist workers) compute once and share."""
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
TEST_LIMIT = 64
"""Hidden test items the tasks grade in this suite (``PTB_ENV_TEST_LIMIT``, which subprocesses such
as the examples inherit): one generation batch, not all 500. Grading a trained checkpoint is the
costliest step of most slow tests, and what they check (statuses, verdicts, records, equal rewards)
does not need 500 items. The grading code path is the same; tests marked ``full_test_split``
(uplift thresholds) grade every item."""
os.environ["PTB_ENV_TEST_LIMIT"] = str(TEST_LIMIT)

import pytest  # noqa: E402

from ptb_env.paths import TINY_MODEL_DIR  # noqa: E402


def _pin_xdist_worker() -> None:
    """Under ``pytest -n N`` (pytest-xdist), worker ``gwK`` keeps every N-th of the CPUs it may use.

    The N workers then share the machine without overcommitting it: everything a test starts
    (sandboxes, train jobs, graders) inherits the worker's CPUs and sizes its threads to them
    (:func:`ptb_env.cpus.available_cpus`) rather than each to the whole machine (beside one busy
    process, torch's 2 threads ran 14x slower per step than 1 thread here). With more workers
    than CPUs, workers keep every CPU.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not worker.startswith("gw") or not 1 < count <= len(cpus):
        return
    os.sched_setaffinity(0, cpus[int(worker[2:]) % count :: count])


_pin_xdist_worker()


DURATIONS = Path(__file__).with_name("durations.json")
"""Seconds per test file, from a full run (``tests/perf/lanes.py LOG --write-durations``)."""


def pytest_configure(config: pytest.Config) -> None:
    """Under ``--dist loadfile``, pytest-xdist hands out files in the collection's order
    (:func:`pytest_collection_modifyitems`), not its default of the most tests first: that put
    the files of one long episode (the GRPO step, the search episode, Ray) last, so one worker
    ran them alone at the end of the run while the other sat idle."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The costliest files first (``DURATIONS``; a file it does not list counts as quick), each
    file's tests in their own order: the longest-first rule keeps the workers' ends close."""
    try:
        seconds = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    items.sort(key=lambda item: -float(seconds.get(item.nodeid.split("::", 1)[0], 0.0)))  # stable


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per CPU this process may use (affinity and cgroup quota, as the
    sandbox counts them), at most 4 (each worker holds its own models)."""
    from ptb_env.cpus import available_cpus

    return max(1, min(available_cpus(), 4))


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


SESSION_SCORES = Path(os.environ["PTB_ENV_CACHE_DIR"]) / "scores"
"""The test session's score cache (modules that set ``PTB_ENV_CACHE_DIR`` do not move it)."""
_STORE = os.environ.get("PTB_TEST_SCORE_STORE", str(Path.home() / ".cache" / "ptb_env-tests" / "base-scores"))
if not _STORE:
    _session_dir("PTB_TEST_SCORE_STORE", "ptb-test-base-scores-")
BASE_SCORES = Path(_STORE or os.environ["PTB_TEST_SCORE_STORE"])
"""A score cache that holds only the tiny tasks' base-model test scores, computed by the suite
itself (no test writes here), and kept between test sessions on this machine
(``PTB_TEST_SCORE_STORE=""``: for this session only). Its entries are keyed by the model's
weights, the split's contents and every evaluation setting, so a change to any of them has a
new key and a stale score is never read."""
_SEEDED: set[str] = set()


SHIPPED_SCORES = Path(__file__).with_name("fixtures") / "base-scores"
"""The base scores that :data:`SEEDED_TASKS` seed, computed by a full run and shipped, so that a
fresh machine (CI) does not compute them first thing in every worker (the default task's full
test split: about 12 s per worker). A key covers the weights, the split and every setting, so
an entry a change made stale is never read: it is computed as before, and
``tests/test_fixtures.py`` says how to ship it anew."""
SEEDED_TASKS = ("tiny-arith", "tiny-facts")
"""The tasks whose seeded base scores are shipped: the default task (every session seeds it) and
``tiny-facts`` (``tests/test_hidden.py`` and ``tests/test_grading.py`` seed it). A task seeded
elsewhere is computed on a fresh machine, as before."""


@pytest.fixture(scope="session")
def seeded_base_scores() -> tuple[Path, tuple[str, ...], int]:
    """``(SHIPPED_SCORES, SEEDED_TASKS, TEST_LIMIT)``, for the test that checks the shipped ones."""
    return SHIPPED_SCORES, SEEDED_TASKS, TEST_LIMIT


def pytest_sessionstart(session: pytest.Session) -> None:
    """The session's score cache starts with the shipped base scores and those computed by
    earlier sessions."""
    _copy_scores(SHIPPED_SCORES, BASE_SCORES)
    _copy_scores(BASE_SCORES, SESSION_SCORES)


def _copy_scores(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.json"):
        if not (dest / f.name).exists():
            shutil.copy2(f, dest / f.name)
    return dest


def _base_score(task: str) -> None:
    """Score the base model of ``task`` on its test split into :data:`BASE_SCORES` (once)."""
    if task in _SEEDED:
        return
    from ptb_env.grading import Grader
    from ptb_env.score_cache import ScoreCache

    grader = Grader(task, ScoreCache(BASE_SCORES))
    grader.base_score("test")
    grader.base_score("test", TEST_LIMIT)
    _copy_scores(BASE_SCORES, SESSION_SCORES)
    _SEEDED.add(task)


@pytest.fixture(scope="session", autouse=True)
def _default_task_base_scores() -> None:
    """The default task's base scores are in the session's score cache before the first test."""
    from ptb_env import tasks

    _base_score(tasks.DEFAULT_TASK)


@pytest.fixture(autouse=True)
def _full_test_split(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``full_test_split`` see the tasks as registered: graded on every test item."""
    if request.node.get_closest_marker("full_test_split") is None:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PTB_ENV_TEST_LIMIT")
        yield


@pytest.fixture(scope="session")
def seed_score_cache() -> Callable[..., Path]:
    """``seed_score_cache(root, *tasks)``: the score cache directory ``root``, holding the base model's
    test scores of ``tasks`` (default ``tiny-arith``).

    A module that needs a cache of its own (to look at its files, or to start from a known state)
    gets the base scores, the costliest evaluations of the suite, computed once per test session
    (or read from :data:`BASE_SCORES`) instead of once per module. They are this machine's own
    results, never shipped figures.
    """

    def seed(root: str | os.PathLike[str], *tasks: str) -> Path:
        for task in tasks or ("tiny-arith",):
            _base_score(task)
        return _copy_scores(BASE_SCORES, Path(root))

    return seed


@pytest.fixture
def bwrap() -> None:
    """Skips the test (with the reason) where bubblewrap cannot run."""
    from ptb_env.sandbox import SandboxUnavailable, find_bwrap

    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, seed_score_cache) -> Iterator[Path]:
    """``PTB_ENV_CACHE_DIR`` in a temporary directory for the module: no score lands in ~/.cache.

    Its score cache starts with the session's base scores (``seed_score_cache``).
    """
    root = tmp_path_factory.mktemp("ptb_cache")
    seed_score_cache(root / "scores")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTB_ENV_CACHE_DIR", str(root))
        yield root


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    """The workspace root of a test's envs."""
    return tmp_path / "workspaces"


@pytest.fixture
def make_env(ws_root: Path, cache_dir: Path, bwrap: None) -> Iterator[Callable[..., Any]]:
    """Factory of ``gym.make`` envs in :func:`ws_root` with the module's score cache; all closed at
    teardown (skipped where bubblewrap cannot run)."""
    import gymnasium as gym

    made: list[Any] = []

    def _make(env_id: str = "PostTrain-v0", **kwargs: Any) -> Any:
        kwargs.setdefault("workspace_root", ws_root)
        kwargs.setdefault("score_cache_dir", cache_dir / "scores")
        env = gym.make(env_id, **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()
