"""Bugs found by playing the env as an agent would (issue 16, item 6), each attacked through ``env.step``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ptb_env.cpus import available_cpus, cgroup_cpu_quota
from ptb_env.env import PostTrainEnv
from ptb_env.sandbox import SandboxConfig
from ptb_env.text import last_frames


@pytest.fixture
def make_env(tmp_path: Path, bwrap: None) -> Iterator[Any]:
    made: list[PostTrainEnv] = []

    def _make(**kwargs: Any) -> PostTrainEnv:
        env = PostTrainEnv("tiny-arith", workspace_root=tmp_path / "ws", **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def bash(env: PostTrainEnv, command: str) -> str:
    obs, *_ = env.step({"tool": "bash", "args": {"command": command}})
    return obs["output"]


def test_the_task_card_states_the_effective_budget(make_env):
    env = make_env(time_limit_s=1500, max_steps=30, max_dev_evals=4)
    _, info = env.reset(seed=0)
    for card in (info["task_card"], bash(env, "cat TASK.md")):
        assert "25 minutes of wall-clock time, 30 tool calls, 4 dev evaluations" in card
        assert "Budget: 5 minutes" not in card and "200 tool calls" not in card
        assert "grading is not charged" in card
        assert "`evaluate` scores the first 100 items of the dev-shift split" in card


@pytest.mark.parametrize("cpus", [None, 1.0])
def test_thread_pools_fit_the_cpus_the_episode_may_use(make_env, cpus):
    env = make_env(sandbox_config=SandboxConfig(cpus=cpus) if cpus else None)
    env.reset(seed=0)
    out = bash(
        env, 'echo "threads=$OMP_NUM_THREADS,$MKL_NUM_THREADS,$OPENBLAS_NUM_THREADS wait=$OMP_WAIT_POLICY"'
    )
    n = 1 if cpus else available_cpus()
    assert f"threads={n},{n},{n} wait=PASSIVE" in out


def test_cgroup_quota_is_read_along_the_path_and_the_smallest_binds(tmp_path):
    root, proc = tmp_path / "cg", tmp_path / "cgroup"
    (root / "a" / "b").mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")
    (root / "a" / "cpu.max").write_text("150000 100000\n")
    (root / "a" / "b" / "cpu.max").write_text("max 100000\n")
    proc.write_text("0::/a/b\n")
    assert cgroup_cpu_quota(root, proc) == 1.5
    proc.write_text("0::/\n")
    assert cgroup_cpu_quota(root, proc) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "job").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu,cpuacct" / "job" / "cpu.cfs_period_us").write_text("100000\n")
    proc.write_text("4:cpu,cpuacct:/job\n")
    assert cgroup_cpu_quota(v1, proc) == 0.5
    assert cgroup_cpu_quota(tmp_path / "none", tmp_path / "missing") is None
    assert available_cpus() >= 1


def test_a_long_job_command_is_cut_with_a_marker_and_kept_whole_in_the_data(make_env):
    env = make_env()
    env.reset(seed=0)
    command = "python -c 'pass' " + " ".join(f"--flag{i} 2e-3" for i in range(40))
    _, _, _, _, info = env.step({"tool": "job_start", "args": {"command": command}})
    job = info["result"]["job"]["id"]
    obs, _, _, _, info = env.step({"tool": "job_status", "args": {"job_id": job}})
    assert f"[... {len(command) - 160} more chars]" in obs["output"]
    assert info["result"]["job"]["command"] == command


def test_job_logs_show_the_last_frame_of_a_redrawn_line(make_env):
    env = make_env()
    env.reset(seed=0)
    cmd = r"printf 'load\n 10%%|#  |\r 50%%|## |\r100%%|###|\ndone\n'"
    _, _, _, _, info = env.step({"tool": "job_start", "args": {"command": cmd}})
    job = info["result"]["job"]["id"]
    env.step({"tool": "wait", "args": {"job_id": job, "seconds": 30}})
    obs, *_ = env.step({"tool": "job_logs", "args": {"job_id": job}})
    log = obs["output"].split("\n", 1)[1]  # after the job's one-line description
    assert log == "load\n100%|###|\ndone\n"
    assert last_frames("a\r\nb\rc\r\n") == "a\nc\n"


def test_the_clock_stops_at_submit_while_grading_runs(make_env, monkeypatch):
    env = make_env(time_limit_s=600)
    env.reset(seed=0)
    obs, *_ = env.step({"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}})
    before = float(obs["budget"]["seconds_left"])
    grade = env.grader.grade

    def slow_grade(*args: Any, **kwargs: Any):
        time.sleep(3)
        return grade(*args, **kwargs)

    monkeypatch.setattr(env.grader, "grade", slow_grade)
    obs, _, terminated, _, info = env.step({"tool": "submit", "args": {}})
    assert terminated and info["status"] == "ok"
    assert before - float(obs["budget"]["seconds_left"]) < 2.0  # the 3 s of grading are not charged
