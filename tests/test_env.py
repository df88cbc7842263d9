"""PostTrainEnv through Gymnasium: API conformance, ids, malformed actions, budgets, tools, cleanup.

Every env runs real bubblewrap sandboxes and the real grader; the score cache lives
in a temporary directory (the first reset of the module scores the base model).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ptb_env import paths
from ptb_env.env import PostTrainEnv
from ptb_env.errors import EpisodeNotRunning, TaskNotFound
from ptb_env.sandbox import Sandbox, procs
from ptb_env.score_cache import checkpoint_fingerprint
from ptb_env.tasks import DEFAULT_TASK, gym_id, list_tasks

MakeEnv = Callable[..., gym.Env]


pytestmark = pytest.mark.usefixtures("cache_dir")  # (conftest) no score lands in ~/.cache


@pytest.fixture
def env(make_env: MakeEnv) -> gym.Env:
    """A reset env of the default task."""
    e = make_env()
    e.reset(seed=0)
    return e


def step(env: gym.Env, tool: str, **args: Any) -> tuple[dict, float, bool, bool, dict]:
    return env.step({"tool": tool, "args": args})


def sandbox_of(env: gym.Env) -> Sandbox:
    sandbox = env.unwrapped._sandbox
    assert sandbox is not None, "no episode is running"
    return sandbox


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- Gymnasium conformance and registration -------------------------------------------

ALL_IDS = ["PostTrain-v0", *(gym_id(t) for t in list_tasks())]
EXPECTED_CHECKER_WARNINGS = (
    "observation space maximum value is infinity",  # an unlimited budget ledger is inf
    "No render fps was declared",  # text rendering has no frame rate
)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_registered_ids_are_nondeterministic(env_id):
    # Observations carry the wall-clock budget; check_env skips its determinism checks only
    # because of this flag, so it must not drift silently.
    assert gym.spec(env_id).nondeterministic is True


@pytest.mark.slow
def test_check_env_passes_without_unexpected_warnings(make_env):
    env = make_env()
    assert env.unwrapped.spec.nondeterministic is True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    gym_warnings = [str(w.message) for w in caught if "WARN:" in str(w.message)]  # gymnasium's logger
    unexpected = [m for m in gym_warnings if not any(k in m for k in EXPECTED_CHECKER_WARNINGS)]
    assert not unexpected


@pytest.mark.parametrize(
    ("env_id", "task"),
    [
        ("PostTrain-v0", DEFAULT_TASK),
        ("PostTrain-tiny-arith-v0", "tiny-arith"),
        ("PostTrain-tiny-tools-v0", "tiny-tools"),
        ("PostTrain-tiny-facts-v0", "tiny-facts"),
    ],
)
def test_gym_id_makes_its_task(make_env, env_id, task):
    assert make_env(env_id).unwrapped.task.id == task


def test_every_task_has_a_gym_id():
    assert {gym_id(t) for t in list_tasks()} <= set(gym.registry)


def test_unknown_task_suggests_the_closest(ws_root):
    with pytest.raises(TaskNotFound, match="Did you mean: 'tiny-arith'"):
        gym.make("PostTrain-v0", task="tiny-arth", workspace_root=ws_root)


def test_unknown_gym_id_suggests_the_closest():
    with pytest.raises(gym.error.NameNotFound, match="Did you mean: `PostTrain-tiny-arith`"):
        gym.make("PostTrain-tiny-arth-v0")


# -- reset ------------------------------------------------------------------------


def test_reset_observation_is_in_the_space(make_env):
    env = make_env()
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_reset_info_task_card_is_the_workspace_task_md(make_env):
    _, info = make_env().reset()
    assert info["task_card"].strip()
    assert (Path(info["workspace"]) / "TASK.md").read_text(encoding="utf-8") == info["task_card"]


def test_reset_info_tool_schemas_are_openai_functions(make_env):
    env = make_env()
    _, info = env.reset()
    schemas = info["tool_schemas"]
    assert [s["function"]["name"] for s in schemas] == list(env.unwrapped.tools)
    for s in schemas:
        assert set(s) == {"type", "function"} and s["type"] == "function"
        fn = s["function"]
        assert set(fn) == {"name", "description", "parameters"}
        assert isinstance(fn["description"], str) and fn["description"].strip()
        params = fn["parameters"]
        assert params["type"] == "object" and isinstance(params["properties"], dict)
        assert set(params["required"]) <= set(params["properties"])
    json.dumps(schemas)  # sendable as-is to a chat API


def test_reset_info_base_score_is_a_score(make_env):
    _, info = make_env().reset()
    assert isinstance(info["base_score"], float) and 0.0 <= info["base_score"] <= 1.0


def test_base_score_is_cached_in_the_temporary_cache(make_env, cache_dir):
    env = make_env()
    _, info = env.reset()
    inner = env.unwrapped
    assert paths.cache_dir() == cache_dir.resolve() and inner.score_cache.root == cache_dir / "scores"
    key = inner.grader._key(checkpoint_fingerprint(inner.resolved.base_dir), "test", inner.task.test_limit)
    assert json.loads((cache_dir / "scores" / f"{key}.json").read_text())["score"] == info["base_score"]


def test_test_limit_grades_the_first_hidden_items_only(make_env):
    with pytest.raises(ValueError, match="test_limit"):
        make_env(test_limit=0)
    env = make_env(test_limit=8)
    _, info = env.reset()
    env.step({"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}})
    _, reward, terminated, _, info = env.step({"tool": "submit", "args": {}})
    assert terminated and info["status"] == "ok" and reward == 0.0
    assert info["grade"]["n"] == 8 and info["base_score"] == info["score"]
    bench = env.unwrapped.resolved.benchmark
    assert bench.items("test", limit=8) == bench.items("test")[:8]


def test_the_test_limit_variable_sets_the_default_of_registered_tasks(monkeypatch):
    """``PTB_ENV_TEST_LIMIT`` (this suite sets it, and its subprocesses inherit it) is the default
    ``test_limit`` of a registered task; a task's own limit and an env argument win over it."""
    from ptb_env import tasks
    from ptb_env.errors import PtbEnvError
    from ptb_env.tasks import TEST_LIMIT_VAR, get_task, register_task

    monkeypatch.setenv(TEST_LIMIT_VAR, "12")
    assert get_task("tiny-arith").test_limit == 12
    monkeypatch.setattr(tasks, "_REGISTRY", dict(tasks._REGISTRY))
    register_task(dataclasses.replace(get_task("tiny-arith"), id="tiny-arith-own", test_limit=5))
    assert get_task("tiny-arith-own").test_limit == 5
    env = PostTrainEnv("tiny-arith", test_limit=3)
    assert env.task.test_limit == 3
    env.close()
    monkeypatch.delenv(TEST_LIMIT_VAR)
    assert get_task("tiny-arith").test_limit is None
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(TEST_LIMIT_VAR, bad)
        with pytest.raises(PtbEnvError, match=f"{TEST_LIMIT_VAR}.*{bad}"):
            get_task("tiny-arith")


def test_a_dev_split_the_benchmark_lacks_is_refused_when_the_env_is_made(monkeypatch):
    from ptb_env.benchmarks.arith import TinyArith

    monkeypatch.setattr(TinyArith, "splits", ("train", "dev", "test"))  # as a benchmark without dev-shift
    with pytest.raises(ValueError, match="'dev-shift', a split its benchmark 'tiny-arith' does not have"):
        PostTrainEnv("tiny-arith")


def test_reset_budget_is_full(make_env):
    obs, _ = make_env(time_limit_s=100, max_steps=7, max_dev_evals=3).reset()
    budget = {k: float(v) for k, v in obs["budget"].items()}
    assert budget["steps_left"] == 7 and budget["dev_evals_left"] == 3
    assert 90 < budget["seconds_left"] <= 100


def test_dev_scores_start_as_nan(env):
    obs, *_ = step(env, "bash", command="true")
    assert math.isnan(obs["best_dev_score"]) and math.isnan(obs["last_dev_score"])


def test_reset_removes_the_previous_workspace(make_env):
    env = make_env()
    _, first = env.reset()
    _, second = env.reset()
    assert not Path(first["workspace"]).exists() and Path(second["workspace"]).is_dir()


def test_every_tool_gives_an_observation_in_the_space(make_env):
    env = make_env()
    obs, _ = env.reset()
    calls = [
        ("bash", {"command": "echo hi"}),
        ("job_start", {"command": "sleep 0.2"}),
        ("job_status", {}),
        ("job_logs", {"job_id": 1}),
        ("wait", {"job_id": 1, "seconds": 5}),
        ("job_kill", {"job_id": 1}),
        ("write_file", {"path": "a.txt", "content": "x"}),
        ("read_file", {"path": "a.txt"}),
        ("train", {"data": "data/missing.jsonl", "max_steps": 1}),
        ("evaluate", {"model": "final_model"}),
        ("submit", {}),
    ]
    assert {tool for tool, _ in calls} == set(env.unwrapped.tools)
    bad = []
    for tool, args in calls:
        obs, *_ = env.step({"tool": tool, "args": args})
        if not env.observation_space.contains(obs):
            bad.append((tool, obs))
    assert not bad


# -- malformed actions: an observation, never an exception ------------------------


def _nested_list(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


MALFORMED = {
    "random-text": ("please list the files", "not valid JSON"),
    "bad-json": ('{"tool": "bash", "args": {"command": "ls"', "not valid JSON"),
    "unknown-tool": ({"tool": "shell", "args": {"command": "ls"}}, "Unknown tool 'shell'"),
    "wrong-arg-type": ({"tool": "bash", "args": {"command": ["ls"]}}, "must be a string, actually got list"),
    "bool-for-integer": (
        {"tool": "job_kill", "args": {"job_id": True}},
        "must be an integer, actually got bool",
    ),
    "unknown-argument": ({"tool": "bash", "args": {"command": "ls", "sudo": True}}, "has no argument 'sudo'"),
    "missing-argument": ({"tool": "write_file", "args": {"path": "a"}}, "needs the argument 'content'"),
    "2mb-string": ("x" * 2_000_000, "2,000,000 characters long"),
    "2mb-command": ({"tool": "bash", "args": {"command": "x" * 2_000_000}}, "too long: 2,000,000 characters"),
    "nested-json": ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "nested-json-in-args": (
        '{"tool": "bash", "args": {"command": ' + "[" * 200_000 + "]" * 200_000 + "}}",
        "nested too deeply",
    ),
    "nested-object-arg": ({"tool": "bash", "args": {"command": _nested_list(100_000)}}, "actually got list"),
    "huge-json-integer": ('{"tool": "wait", "args": {"seconds": ' + "9" * 5_000 + "}}", "cannot be read"),
    "none": (None, "actually got NoneType"),
    "int": (7, "actually got int"),
    "list": ([{"tool": "bash", "args": {"command": "ls"}}], "actually got list"),
    "non-utf8-bytes": (b"\xff\xfe", "bytes that are not UTF-8"),
}


@pytest.mark.parametrize(("action", "expected"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_action_becomes_an_error_observation(env, action, expected):
    obs, reward, terminated, truncated, info = env.step(action)
    assert expected in obs["error"]
    assert (reward, terminated, truncated, info["tool"]) == (0.0, False, False, None)
    assert env.observation_space.contains(obs)


def test_malformed_action_runs_nothing(env):
    env.step('{"tool": "bash", "args": {"command": "touch ran"}, "extra": 1}')
    assert not (env.unwrapped.workspace.root / "ran").exists()


def test_random_strings_become_error_observations(env):
    rng = np.random.default_rng(0)
    alphabet = list('{}[]":,tool args bash 0123456789\\\x00\n λ中🙂') + ["\ud800"]
    for _ in range(100):
        action = "".join(rng.choice(alphabet, size=int(rng.integers(0, 80))))
        obs, reward, terminated, truncated, _ = env.step(action)
        assert obs["error"], action
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert env.observation_space.contains(obs)


@pytest.mark.slow
def test_random_policy_runs_without_exceptions(make_env):
    env = make_env(time_limit_s=20, max_steps=60)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    outside, episodes = [], 0
    for i in range(1_000):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        if not env.observation_space.contains(obs) or not math.isfinite(reward):
            outside.append((i, obs, reward))
        if terminated or truncated:
            episodes += 1
            obs, _ = env.reset()
            if not env.observation_space.contains(obs):
                outside.append((i, obs, None))
    assert not outside, outside[:3]
    assert episodes >= 1_000 // 60


# -- episode end: termination, truncation, stepping after the end ------------------


def test_submit_terminates_and_grades(env):
    _, reward, terminated, truncated, info = step(env, "submit")
    assert (terminated, truncated) == (True, False)
    assert info["status"] == "invalid_checkpoint" and reward == 0.0  # nothing was trained


def test_max_steps_truncates_and_grades(make_env):
    env = make_env(max_steps=2)
    env.reset()
    first = step(env, "bash", command="true")
    _, reward, terminated, truncated, info = step(env, "bash", command="true")
    assert first[2:4] == (False, False)
    assert (terminated, truncated, info["truncated_by"]) == (False, True, ["steps"])
    assert info["status"] == "invalid_checkpoint" and reward == 0.0


def test_time_limit_cuts_a_call_and_truncates(make_env):
    env = make_env(time_limit_s=3)
    env.reset()
    t0 = time.monotonic()
    obs, _, terminated, truncated, info = step(env, "bash", command="sleep 10; echo finished")
    assert time.monotonic() - t0 < 8
    assert "timed out" in obs["output"] and "finished" not in obs["output"]
    assert (terminated, truncated, info["truncated_by"]) == (False, True, ["wall_clock_s"])
    assert info["status"] == "invalid_checkpoint"


def test_step_after_the_end_raises(make_env):
    env = make_env(max_steps=1)
    env.reset()
    assert step(env, "bash", command="true")[3] is True
    with pytest.raises(EpisodeNotRunning):
        step(env, "bash", command="true")


def test_step_after_submit_raises(env):
    step(env, "submit")
    with pytest.raises(EpisodeNotRunning):
        step(env, "bash", command="true")


def test_step_after_close_raises(env):
    env.close()
    with pytest.raises(EpisodeNotRunning):
        step(env, "bash", command="true")


def test_step_before_reset_raises(ws_root, cache_dir):
    env = PostTrainEnv(workspace_root=ws_root, score_cache_dir=cache_dir / "scores")
    with pytest.raises(EpisodeNotRunning):
        env.step({"tool": "bash", "args": {"command": "true"}})


# -- close and cleanup -------------------------------------------------------------


def test_close_is_idempotent(make_env):
    env = make_env()
    env.close()  # before any reset
    env.reset()
    env.close()
    env.close()


def test_close_kills_every_sandbox_process(env):
    step(env, "bash", command="sleep 300 & setsid sleep 301 & disown; true")
    step(env, "job_start", command="sleep 302")
    pids = sandbox_of(env).host_pids()
    assert len(pids) >= 5  # bwrap, the shell, three sleeps
    env.close()
    assert [p for p in pids if procs.is_running(p)] == []


def test_close_removes_the_workspace(make_env, ws_root):
    env = make_env()
    _, info = env.reset()
    assert Path(info["workspace"]).is_dir()
    env.close()
    assert list(ws_root.iterdir()) == []


def test_keep_workspace_keeps_it(make_env):
    env = make_env(keep_workspace=True)
    _, info = env.reset()
    env.close()
    assert (Path(info["workspace"]) / "TASK.md").is_file()


@pytest.mark.slow
def test_reset_close_cycles_leak_nothing(make_env, ws_root):
    env = make_env()
    env.reset()
    env.close()  # warm-up: lazy imports and caches open what they keep
    fds, threads = open_fds(), threading.active_count()
    children = procs.descendants(os.getpid())
    for _ in range(50):
        env.reset()
        step(env, "job_start", command="sleep 300")
        env.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)  # watchdog threads end at their next wake-up
    assert list(ws_root.iterdir()) == []
    assert procs.descendants(os.getpid()) - children == set()
    assert open_fds() <= fds + 5
    assert threading.active_count() <= threads


# -- read_file and write_file -----------------------------------------------------

UNICODE_TEXTS = {
    "mixed": "héllo 中文 🙂\n$HOME `id` $(id) \\ 'single' \"double\" %s %d -n\n\ttab",
    "trailing-newline": "line 1\nline 2\n",
    "leading-dash": "-e \\n not an option",
    "blank-lines": "\n\n\n",
}


@pytest.mark.parametrize("text", list(UNICODE_TEXTS.values()), ids=list(UNICODE_TEXTS))
def test_write_then_read_round_trips_text(env, text):
    assert not step(env, "write_file", path="notes/u.txt", content=text)[0]["error"]
    obs, *_ = step(env, "read_file", path="notes/u.txt")
    assert (obs["output"], obs["error"]) == (text, "")


def test_write_file_writes_utf8_bytes_in_the_workspace(env):
    step(env, "write_file", path="/workspace/deep/er/u.txt", content="λ🙂")
    assert (env.unwrapped.workspace.root / "deep/er/u.txt").read_bytes() == "λ🙂".encode()


def test_write_file_appends(env):
    step(env, "write_file", path="a.txt", content="one ")
    step(env, "write_file", path="a.txt", content="two", append=True)
    assert step(env, "read_file", path="a.txt")[0]["output"] == "one two"


def test_write_file_refuses_nul(env):
    obs, *_ = step(env, "write_file", path="a.txt", content="a\x00b")
    assert "NUL" in obs["error"] and not (env.unwrapped.workspace.root / "a.txt").exists()


def test_read_file_reads_a_byte_range(env):
    step(env, "write_file", path="a.txt", content="0123456789")
    obs, *_ = step(env, "read_file", path="a.txt", offset=2, max_chars=3)
    assert obs["output"] == "234\n[bytes 2-5 of 10]"


def test_read_file_range_ends_where_the_read_stopped_inside_a_character(env):
    step(env, "write_file", path="a.txt", content="λλλλ")  # 8 bytes; byte 3 is inside the 2nd λ
    obs, *_ = step(env, "read_file", path="a.txt", max_chars=3)
    assert obs["output"].endswith("\n[bytes 0-3 of 8]")


def test_read_file_past_the_end_reads_nothing(env):
    step(env, "write_file", path="a.txt", content="0123456789")
    obs, *_ = step(env, "read_file", path="a.txt", offset=50)
    assert (obs["output"], obs["error"]) == ("\n[bytes 50-50 of 10]", "")


def test_file_tools_take_paths_with_shell_characters_literally(env):
    path = "we ird/a b'c\"d$(touch pwned)`touch pwned2`;-n.txt"
    step(env, "write_file", path=path, content="ok")
    assert step(env, "read_file", path=path)[0]["output"] == "ok"
    root = env.unwrapped.workspace.root
    assert (root / path).read_text() == "ok"
    assert not list(root.rglob("pwned*"))


def test_write_file_outside_writable_places_is_an_error(env):
    obs, *_ = step(env, "write_file", path="/etc/x", content="a")
    assert obs["error"].startswith("Could not write '/etc/x'")


def test_read_file_of_a_missing_file_is_an_error(env):
    obs, *_ = step(env, "read_file", path="missing.txt")
    assert obs["error"] == "'missing.txt' does not exist."


def test_read_file_of_a_directory_is_an_error(env):
    obs, *_ = step(env, "read_file", path="data")
    assert obs["error"].startswith("'data' is a directory")


def test_read_file_reads_sandbox_files_outside_the_workspace(env):
    # The sandbox's own /etc/passwd (written for it), not the host's; /etc/hostname is absent inside.
    obs, *_ = step(env, "read_file", path="/etc/passwd")
    # uid 1000 inside a user namespace; as root, the sandbox's own unprivileged host uid
    assert re.search(r"^agent:x:(\d+):\1:agent:/workspace:/bin/bash$", obs["output"], re.M), obs["output"]
    assert not obs["error"] and "agent:x:0:" not in obs["output"]


def test_read_file_does_not_follow_a_link_to_the_host(env, tmp_path):
    secret = tmp_path / "host_secret.txt"
    secret.write_text("HOST-ONLY-SECRET")
    (env.unwrapped.workspace.root / "leak").symlink_to(secret)
    obs, *_ = step(env, "read_file", path="leak")
    assert "HOST-ONLY-SECRET" not in obs["output"] + obs["error"]
    assert obs["error"] == "'leak' does not exist."


# -- job tools ----------------------------------------------------------------------


def test_job_start_then_status_is_running(env):
    assert step(env, "job_start", command="sleep 30")[0]["output"].startswith("started job 1")
    assert "running" in step(env, "job_status", job_id=1)[0]["output"]


def test_job_status_without_id_lists_every_job(env):
    step(env, "job_start", command="sleep 30")
    step(env, "job_start", command="sleep 31")
    out = step(env, "job_status")[0]["output"]
    assert "sleep 30" in out and "sleep 31" in out


def test_job_logs_show_the_output(env):
    step(env, "job_start", command="echo from-the-job; sleep 30")
    deadline, out = time.monotonic() + 10, ""
    while "from-the-job" not in out and time.monotonic() < deadline:
        out = step(env, "job_logs", job_id=1)[0]["output"]
    assert "from-the-job" in out


def test_job_kill_stops_the_job(env):
    step(env, "job_start", command="sleep 30")
    assert "killed" in step(env, "job_kill", job_id=1)[0]["output"]
    assert "running" not in step(env, "job_status", job_id=1)[0]["output"]


def test_wait_returns_when_the_job_ends(env):
    step(env, "job_start", command="sleep 1; echo done")
    t0 = time.monotonic()
    obs, *_ = step(env, "wait", job_id=1)
    assert "exited (exit code 0)" in obs["output"] and time.monotonic() - t0 < 10


def test_wait_seconds_bound_the_wait(env):
    step(env, "job_start", command="sleep 30")
    t0 = time.monotonic()
    obs, *_ = step(env, "wait", job_id=1, seconds=0.5)
    assert "running" in obs["output"] and time.monotonic() - t0 < 5


def test_wait_without_arguments_is_an_error(env):
    assert step(env, "wait")[0]["error"] == "wait needs job_id, seconds, or both."


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("job_status", {"job_id": 7}),
        ("job_logs", {"job_id": 7}),
        ("job_kill", {"job_id": 7}),
        ("wait", {"job_id": 7}),
    ],
)
def test_unknown_job_id_is_an_error(env, tool, args):
    step(env, "job_start", command="true")
    obs, reward, terminated, truncated, _ = env.step({"tool": tool, "args": args})
    assert obs["error"] == "No job 7; known jobs: 1."
    assert (reward, terminated, truncated) == (0.0, False, False)


# -- evaluate -----------------------------------------------------------------------


def test_evaluate_base_model_records_the_dev_score(env):
    obs, *_ = step(env, "evaluate", model="base_model", limit=5)
    match = re.match(r"dev-shift score of base_model: (\d\.\d{4}) on 5 items", obs["output"])
    assert match and not obs["error"]
    score = float(match.group(1))
    assert float(obs["best_dev_score"]) == pytest.approx(score, abs=1e-4)
    assert float(obs["last_dev_score"]) == pytest.approx(score, abs=1e-4)


def test_evaluate_scores_either_dev_split_and_never_test(make_env):
    """The tiny tasks score dev-shift by default; ``split="dev"`` scores the in-distribution split
    (a dev evaluation too, but not the observation's dev score); no other split is scored."""
    env = make_env(max_dev_evals=3)
    _, info = env.reset()
    data = Path(info["workspace"]) / "data"
    assert sorted(p.name for p in data.glob("*.jsonl")) == [
        "tiny-arith-dev-shift.jsonl",
        "tiny-arith-dev.jsonl",
    ]
    step(env, "bash", command="cp -rL base_model/. final_model/")
    _, _, _, _, info = env.step({"tool": "evaluate", "args": {"limit": 4}})
    assert info["result"]["split"] == "dev-shift" and info["result"]["best"] == info["result"]["score"]
    obs, _, _, _, info = env.step({"tool": "evaluate", "args": {"limit": 4, "split": "dev"}})
    assert obs["output"].startswith("dev score of final_model") and info["result"]["best"] is None
    assert info["result"]["split"] == "dev" and float(obs["budget"]["dev_evals_left"]) == 1
    for split in ("test", "train", "../private"):
        obs, _, _, _, info = env.step({"tool": "evaluate", "args": {"split": split}})
        assert obs["error"] == f"evaluate scores the split 'dev-shift' or 'dev', not {split!r}."
    assert float(obs["budget"]["dev_evals_left"]) == 1


def test_evaluate_uses_one_dev_evaluation(make_env):
    env = make_env(max_dev_evals=3)
    env.reset()
    obs, *_ = step(env, "evaluate", model="base_model", limit=5)
    assert float(obs["budget"]["dev_evals_left"]) == 2


def test_evaluate_of_an_empty_final_model_is_an_error_and_costs_nothing(env):
    env.reset()
    before = float(env.unwrapped._ctx.budget.left()["dev_evals"])
    obs, *_ = step(env, "evaluate")
    assert obs["error"] == (
        "Cannot evaluate 'final_model' (no dev evaluation was used): "
        "final_model/ is empty: no checkpoint was saved."
    )
    assert math.isnan(obs["best_dev_score"])
    assert float(obs["budget"]["dev_evals_left"]) == before


def test_evaluate_past_the_dev_budget_is_an_error(make_env):
    env = make_env(max_dev_evals=1)
    env.reset()
    assert not step(env, "evaluate", model="base_model", limit=5)[0]["error"]
    obs, _, terminated, truncated, _ = step(env, "evaluate", model="base_model", limit=5)
    assert obs["error"] == "No dev evaluation is left in the budget."
    assert (terminated, truncated) == (False, False)  # dev evaluations never end the episode


@pytest.mark.parametrize("model", ["/etc", "../other", "/workspace/../etc", "/tmp/ckpt"])
def test_evaluate_outside_the_workspace_is_an_error(make_env, model):
    env = make_env(max_dev_evals=3)
    env.reset()
    obs, *_ = step(env, "evaluate", model=model)
    assert obs["error"].startswith(f"{model!r} is outside the workspace (/workspace).")
    assert float(obs["budget"]["dev_evals_left"]) == 3  # not charged
