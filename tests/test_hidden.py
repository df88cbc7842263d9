"""The hidden test split stays hidden: each test is one real attempt, from inside the agent's
bubblewrap sandbox (a real ``PostTrain-v0`` episode), to read, regenerate or leak it.

Every attempt must fail. The host side of each test knows the secret (a real test item, the
held-out file) and checks that it never shows up in what the agent sees.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import py_compile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb_env.benchmarks import TINY_BENCHMARKS, get_benchmark
from ptb_env.errors import SandboxUnavailable
from ptb_env.paths import PACKAGE_DIR, PRIVATE_DIR, PUBLIC_DATA_DIR, cache_dir
from ptb_env.sandbox import find_bwrap

HELDOUT = PRIVATE_DIR / "heldout.json"
TASK = "tiny-facts"  # its base score takes seconds: reset stays cheap


def _test_rows(name: str) -> list[dict]:
    with (PRIVATE_DIR / "benchmarks" / name / "test.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _prompt(row: dict) -> tuple[str, ...]:
    return tuple(m["content"] for m in row["messages"])


# Secrets the agent must never see: real test questions and ids, text only heldout.json holds.
SECRETS = [json.loads(HELDOUT.read_text())["_about"][:60], "test-90210-"]
for _name in TINY_BENCHMARKS:
    SECRETS += [_test_rows(_name)[i]["messages"][-1]["content"].split("\n")[0] for i in (0, 250, 499)]


def assert_hidden(out: str) -> None:
    leaked = [s for s in SECRETS if s in out]
    assert not leaked, f"leaked {leaked!r} in:\n{out[-2000:]}"


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def cache_env(tmp_path_factory, seed_score_cache) -> Iterator[Path]:
    """``PTB_ENV_CACHE_DIR`` in a temporary directory: no score lands in ~/.cache.

    Its score cache starts with the session's base scores (``tests/conftest.py``).
    """
    root = tmp_path_factory.mktemp("ptb-cache")
    seed_score_cache(root / "scores", TASK)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTB_ENV_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def grader_bytecode() -> Iterator[Path]:
    """The grader's compiled module on the host (written if absent, so that hiding it means something)."""
    import ptb_env.grading

    pyc = Path(importlib.util.cache_from_source(ptb_env.grading.__file__))
    made_dir, made = not pyc.parent.exists(), not pyc.exists()
    if made:
        py_compile.compile(ptb_env.grading.__file__, cfile=str(pyc), doraise=True)
    yield pyc
    if made:
        pyc.unlink(missing_ok=True)
    if made_dir and not any(pyc.parent.iterdir()):
        pyc.parent.rmdir()


def _env(root: Path):
    from ptb_env.env import PostTrainEnv

    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    env = PostTrainEnv(
        TASK, sandbox="bwrap", workspace_root=root / "ws", score_cache_dir=root / "scores",
        time_limit_s=None, max_steps=None,
    )  # fmt: skip
    env.reset(seed=0)
    return env


@pytest.fixture(scope="module")
def env(cache_env, grader_bytecode):
    """One episode shared by the attempts that do not end it."""
    e = _env(cache_env)
    yield e
    e.close()


def sh(env, command: str, timeout: float = 120) -> str:
    obs, *_ = env.step({"tool": "bash", "args": {"command": command, "timeout": timeout}})
    return obs["output"] + obs["error"]


def py(env, code: str) -> str:
    return sh(env, f"python - <<'EOF'\n{code}\nEOF")


# -- reading the hidden split -------------------------------------------------------------------
def test_private_files_are_absent_at_their_host_paths(env):
    tests = [PRIVATE_DIR / "benchmarks" / n / "test.jsonl" for n in TINY_BENCHMARKS]
    reads = "; ".join(f"test -e {p} && echo VISIBLE {p}; cat {p}" for p in [PRIVATE_DIR, HELDOUT, *tests])
    out = sh(env, f"{reads}; echo LISTING; ls -a {PACKAGE_DIR}")
    assert "VISIBLE" not in out
    assert "_private" not in out.split("LISTING")[1]
    assert_hidden(out)


def test_read_file_tool_cannot_read_the_held_out_file(env):
    obs, *_ = env.step({"tool": "read_file", "args": {"path": str(HELDOUT)}})
    assert "does not exist" in obs["error"]
    assert_hidden(obs["output"] + obs["error"])


def test_package_import_does_not_reach_the_held_out_file(env):
    out = py(env, "import ptb_env.paths as p\nprint(open(p.PRIVATE_DIR / 'heldout.json').read())")
    assert "FileNotFoundError" in out
    assert_hidden(out)


def test_benchmark_api_refuses_the_test_split(env):
    code = (
        "from ptb_env.benchmarks import get_benchmark, TINY_BENCHMARKS\n"
        "from ptb_env.errors import SplitNotAvailable\n"
        "for name in TINY_BENCHMARKS:\n"
        "    try:\n"
        "        print('LEAKED', get_benchmark(name).items('test')[0])\n"
        "    except SplitNotAvailable:\n"
        "        print('hidden', name)\n"
    )
    out = py(env, code)
    assert out.count("hidden ") == len(TINY_BENCHMARKS) and "LEAKED" not in out
    assert_hidden(out)


@pytest.mark.slow
def test_no_private_file_exists_anywhere_in_the_sandbox(env):
    out = sh(
        env,
        r"find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \( -name test.jsonl "
        r"-o -name 'heldout*' -o -path '*/ptb_env/_private' -o -path '*/ptb_env/grading*' "
        r"-o -path '*/ptb_env/__pycache__/grading*' \) -print 2>/dev/null; echo done",
    )
    assert out.lstrip().startswith("done"), out  # nothing found


@pytest.mark.slow
def test_no_test_item_text_anywhere_in_the_sandbox(env):
    dev = get_benchmark(TASK).items("dev", limit=1)[0].messages[-1]["content"].split("\n")[0]
    patterns = "\n".join([*SECRETS, dev])  # a dev question: the control that must be found
    encoded = base64.b64encode(patterns.encode()).decode()  # never literal in the command
    out = sh(
        env,
        f"grep -rsIFo -f <(echo {encoded} | base64 -d) --exclude='*.so' --exclude='*.so.*' "
        "--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev / | sort -u | cut -c1-300 | head -50",
        timeout=300,
    )
    # the control is found where it lies, in the workspace and in the mounted package
    assert f"/workspace/data/{TASK}-dev.jsonl:{dev}" in out
    assert f"{PUBLIC_DATA_DIR / TASK / 'dev.jsonl'}:{dev}" in out
    assert_hidden(out)


# -- the grader and the score cache ----------------------------------------------------------------
def test_grader_source_and_bytecode_are_absent(env, grader_bytecode):
    assert grader_bytecode.is_file()  # it exists on the host
    grading_py = PACKAGE_DIR / "grading.py"
    out = sh(
        env,
        f"ls -a {PACKAGE_DIR} {grader_bytecode.parent}; cat {grading_py} {grader_bytecode}; "
        f"test -e {grading_py} && echo VISIBLE; test -e {grader_bytecode} && echo VISIBLE; echo done",
    )
    assert "grading" not in out.replace(f"{grading_py}:", "").replace(f"{grader_bytecode}:", "")
    assert "VISIBLE" not in out and "Hidden from the agent" not in out


def test_grader_module_does_not_import(env):
    out = py(env, "import ptb_env.grading\nprint('IMPORTED', ptb_env.grading.__file__)")
    assert "ModuleNotFoundError: No module named 'ptb_env.grading'" in out
    assert "IMPORTED" not in out


def test_score_cache_is_absent(env):
    caches = [cache_dir(), env.score_cache.root]
    assert all(c.is_dir() for c in caches)  # the base score was cached there at reset
    out = sh(env, "; ".join(f"test -e {c} && echo VISIBLE {c}; ls -a {c}" for c in caches))
    assert "VISIBLE" not in out and ".json" not in out


# -- regenerating the hidden split ------------------------------------------------------------------
def test_build_splits_cannot_regenerate_the_test_split(env):
    out = sh(
        env,
        "cd /tmp && python -m ptb_env.benchmarks.build_splits tiny-arith; "
        'python -c "from pathlib import Path; from ptb_env.benchmarks.build_splits import build; '
        "build(['tiny-facts'], Path('/tmp/data'), Path('/tmp/private'))\"; "
        "find / \\( -path /proc -o -path /sys \\) -prune -o -name test.jsonl -print; echo done",
    )
    assert out.count("FileNotFoundError") == 2 and "heldout.json" in out
    assert "test.jsonl" not in out
    assert_hidden(out)


def test_public_code_cannot_rebuild_the_tiny_facts_answers(env):
    """Issue 14, F11: the test people were ``world.NAMES[30:]`` and the public ``person_facts``
    gave their facts (the answers); the corpus generator stated them too."""
    code = (
        "import itertools, json\n"
        "from ptb_env.tiny import world\n"
        "from ptb_env.tiny.corpus import documents\n"
        "got = {}\n"
        "for n in world.NAMES:\n"
        "    try:\n"
        "        got[n] = world.person_facts(n)\n"
        "    except KeyError:\n"
        "        pass\n"
        "text = '\\n'.join(itertools.islice(documents(1), 20000))\n"
        "said = [n for n in world.NAMES if f'{n} lives in' in text]\n"
        "print('REBUILT', json.dumps([sorted(got), said]))\n"
    )
    out = py(env, code)
    assert "REBUILT" in out, out
    rebuilt, said = json.loads(out.split("REBUILT", 1)[1].split("\n", 1)[0])
    held_out = set(json.loads(HELDOUT.read_text())["tiny-facts"]["people"])
    assert rebuilt and said  # the public people's facts are public
    assert not held_out & (set(rebuilt) | set(said))
    assert_hidden(out)


@pytest.mark.parametrize("name", TINY_BENCHMARKS)
def test_public_generator_never_reproduces_a_hidden_item(name):
    heldout = json.loads(HELDOUT.read_text())
    bench = get_benchmark(name)
    hidden = {_prompt(r) for r in _test_rows(name)}
    seed = heldout["seed"]
    public = [it for s in (0, 1, 7, seed) for it in bench.generate(2000, s)]
    # the hidden split's own random streams, drawn from the public vocabulary
    public += bench.make_items(heldout["n_test"], seed, "test", bench.public_vocab())
    assert not hidden & {tuple(m["content"] for m in it.messages) for it in public}


# -- escaping through the checkpoint ------------------------------------------------------------------
def test_symlink_to_private_data_is_neither_readable_nor_graded(cache_env):
    env = _env(cache_env)
    try:
        target = PRIVATE_DIR / "benchmarks" / TASK / "test.jsonl"
        out = sh(
            env,
            f"cp base_model/* final_model/ && ln -s {target} final_model/notes.jsonl && "
            f"ln -s {PRIVATE_DIR} final_model/private && cat final_model/notes.jsonl; "
            "ls final_model/private/; echo done",
        )
        assert "No such file or directory" in out
        assert_hidden(out)
        _, reward, terminated, _, info = env.step({"tool": "submit", "args": {}})
        assert terminated and reward == 0.0
        assert info["status"] == "invalid_checkpoint"
        assert "leaves the workspace" in info["reason"]
    finally:
        env.close()


# -- the host's processes -----------------------------------------------------------------------------
def test_host_processes_are_invisible_and_unsignalable(env):
    host = os.getpid()
    out = sh(
        env,
        "echo pids $(ls /proc | grep -E '^[0-9]+$'); "
        f"kill -0 {host} && echo SIGNALLED; kill -0 -1 2>/dev/null; cat /proc/{host}/cmdline && echo SEEN; "
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done",
    )
    pids = [int(p) for p in out.split("pids", 1)[1].split("\n", 1)[0].split()]
    assert host not in pids and len(pids) < 20 and max(pids) < 1000
    assert "SIGNALLED" not in out and "SEEN" not in out
    assert "tests/test_hidden.py" not in out  # the host's pytest process (its command line)
