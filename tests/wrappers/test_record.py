"""RecordTrajectory and replay: file format, crash safety, vector envs, exact replay of a reward.

Every episode is real (bubblewrap sandbox, real grader); budgets are tiny and most
episodes submit the base model, which the score cache grades once per session.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_env.leaderboard import REQUIRED, aggregate, read_results
from ptb_env.rollout import OUTCOME_FIELDS
from ptb_env.sandbox import SandboxUnavailable, find_bwrap
from ptb_env.wrappers.record import RecordTrajectory, read_trajectory, replay, to_json

COPY_BASE = {"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}}
SUBMIT = {"tool": "submit", "args": {}}
TRAIN_EPISODE = [
    {"tool": "bash", "args": {"command": "python -m ptb_env.benchmarks.generate tiny-arith --n 400 --seed 3 "
                                         "--out data/train.jsonl"}},
    {"tool": "train", "args": {"data": "data/train.jsonl", "max_steps": 30, "batch_size": 16,
                               "max_length": 160, "learning_rate": 4e-3, "seed": 1}},
    {"tool": "wait", "args": {"job_id": 1}},
    {"tool": "evaluate", "args": {"limit": 5}},
    json.dumps(SUBMIT),  # a JSON-string action is recorded (and replayed) as given
]  # fmt: skip
"""A short real episode with a non-zero reward (~0.05 on tiny-arith): 30 SFT steps, 1 min on 2 cores."""


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")


def make(tmp_path: Path, **kwargs) -> gym.Env:
    kwargs = {"time_limit_s": 120, "max_steps": 12, "workspace_root": tmp_path / "ws", **kwargs}
    return gym.make("PostTrain-v0", **kwargs)


def strict_json(line: str) -> dict:
    """Parse ``line`` as RFC 8259 JSON (Python's NaN / Infinity literals rejected)."""

    def reject(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(line, parse_constant=reject)


def lines(path: Path) -> list[dict]:
    return [strict_json(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- cheap -----------------------------------------------------------------------


def test_to_json_makes_numpy_and_non_finite_values_plain_json():
    value = {"a": np.float64("nan"), "b": (np.int64(2), float("inf"), -np.inf), 3: np.array([0.5, 1])}
    out = to_json(value)
    assert out == {"a": None, "b": [2, "inf", "-inf"], "3": [0.5, 1.0]}
    assert strict_json(json.dumps(out)) == out


def test_a_line_cut_by_a_crash_is_dropped_and_earlier_lines_are_read(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"type": "episode", "task": "x"}\n{"type": "step", "i": 1}\n{"type": "st')
    assert [r["type"] for r in read_trajectory(path)] == ["episode", "step"]
    path.write_text('{"type": "episode"}\n{"type": "st\n{"type": "step", "i": 2}\n')
    with pytest.raises(ValueError, match="line 2: not JSON"):
        read_trajectory(path)


# -- real episodes -------------------------------------------------------------------


def test_an_episode_writes_an_episode_line_step_lines_and_a_result_line(tmp_path):
    env = RecordTrajectory(make(tmp_path), tmp_path / "runs", agent="noop", output_chars=5)
    try:
        _, info = env.reset(seed=3)
        env.step(COPY_BASE)
        env.step({"tool": "bash", "args": {"command": "printf 0123456789abcdefghij"}})
        env.step({"tool": "nope"})
        _, reward, terminated, _, info = env.step(SUBMIT)
    finally:
        env.close()
    assert terminated and env.path.parent == tmp_path / "runs"
    head, *steps, result = lines(env.path)
    assert head["type"] == "episode" and head["agent"] == "noop" and head["seed"] == 3
    assert head["task"] == "tiny-arith" and head["episode_id"] in env.path.name
    assert head["task_card"] and {s["function"]["name"] for s in head["tool_schemas"]} >= {"bash", "submit"}
    assert head["budget"]["steps_left"] == 12.0 and head["env"]["max_steps"] == 12
    assert [s["i"] for s in steps] == [1, 2, 3, 4] and [s["tool"] for s in steps] == [
        "bash",
        "bash",
        None,
        "submit",
    ]
    assert steps[0]["action"] == COPY_BASE
    out = steps[1]
    assert out["output_head"] == "01234" and out["output_tail"].endswith("0]") and out["output_chars"] > 10
    assert steps[2]["error"] and steps[2]["action"] == {"tool": "nope"}
    assert [s["budget"]["steps_left"] for s in steps] == [11.0, 10.0, 9.0, 8.0]
    assert steps[0]["dev_score"] is None and steps[0]["best_dev_score"] is None  # NaN: no evaluate yet
    assert all(0 <= s["seconds"] <= s["t"] for s in steps) and steps[-1]["t"] <= result["seconds"]
    assert result["type"] == "result" and result["status"] == info["status"] == "ok"
    assert result["reward"] == reward and result["steps"] == 4 and result["score"] == info["score"]
    assert set(result["integrity"]) >= {"contamination", "lineage"} and result["grade"]["n"] > 0
    # the result line is the episode's EpisodeResult (one record, serialised once); steps carry tool data
    assert [k for k in result if k in OUTCOME_FIELDS] == list(OUTCOME_FIELDS)
    assert result["checkpoint"] == info["grade"]["checkpoint"] and result["uplift"] == info["uplift"]
    assert steps[0]["result"]["tool"] == "bash" and steps[0]["result"]["exit_code"] == 0
    assert steps[2]["result"]["ok"] is False and steps[3]["result"]["submitted"] is True


def test_the_result_line_is_read_by_the_leaderboard(tmp_path):
    runs = tmp_path / "runs"
    env = RecordTrajectory(make(tmp_path), runs, agent="noop")
    try:
        env.reset(seed=0)
        env.step(COPY_BASE)
        env.step(SUBMIT)
    finally:
        env.close()
    rows = read_results(runs)
    assert len(rows) == 1 and rows[0]["type"] == "result" and set(REQUIRED) <= set(rows[0])
    board = aggregate(rows)
    assert board["noop"]["benchmarks"]["tiny-arith"]["runs"] == 1


def test_every_line_is_on_disk_before_the_episode_ends(tmp_path):
    env = RecordTrajectory(make(tmp_path), tmp_path / "runs")
    try:
        env.reset(seed=0)
        env.step({"tool": "bash", "args": {"command": "echo hi"}})
        # the process could die now: what is on disk is a readable prefix
        assert [r["type"] for r in read_trajectory(env.path)] == ["episode", "step"]
        first = env.path
        env.reset(seed=1)  # abandons the first episode
    finally:
        env.close()
    assert [r["type"] for r in lines(first)] == ["episode", "step", "interrupted"]
    assert [r["type"] for r in lines(env.path)] == ["episode", "interrupted"] and env.path != first


def test_actions_with_lone_surrogates_are_recorded_exactly(tmp_path):
    action = {"tool": "bash", "args": {"command": "echo 'caf\u00e9 \udcff \U0001f642'"}}
    env = RecordTrajectory(make(tmp_path), tmp_path / "runs")
    try:
        env.reset(seed=0)
        env.step(action)
    finally:
        env.close()
    raw = env.path.read_bytes().decode("utf-8")  # valid UTF-8 throughout
    assert "café" in raw and "\\udcff" in raw
    assert read_trajectory(env.path)[1]["action"] == action


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_vector_env_writes_one_complete_file_per_sub_env(mode, tmp_path):
    runs = tmp_path / "runs"
    venv = gym.make_vec(
        "PostTrain-v0",
        num_envs=2,
        vectorization_mode=mode,
        time_limit_s=60,
        max_steps=5,
        workspace_root=tmp_path / "ws",
        wrappers=[functools.partial(RecordTrajectory, directory=runs, agent="noop")],
    )
    try:
        _, infos = venv.reset(seed=10)
        venv.step([COPY_BASE, COPY_BASE])
        _, _, terminated, _, _ = venv.step([SUBMIT, SUBMIT])
        assert terminated.all()
    finally:
        venv.close()
    files = sorted(runs.glob("*.jsonl"))
    assert len(files) == 2
    records = [lines(f) for f in files]
    assert sorted(r[0]["seed"] for r in records) == [10, 11]
    assert {r[0]["episode_id"] for r in records} == set(infos["episode_id"])
    for rec in records:
        assert [r["type"] for r in rec] == ["episode", "step", "step", "result"]
        assert rec[-1]["status"] == "ok" and rec[-1]["seed"] == rec[0]["seed"]


def test_replaying_a_cut_recording_says_it_is_incomplete(tmp_path):
    env = RecordTrajectory(make(tmp_path), tmp_path / "runs")
    try:
        env.reset(seed=0)
        env.step({"tool": "bash", "args": {"command": "echo hi"}})
    finally:
        env.close()
    reward, info = replay(env.path, workspace_root=tmp_path / "ws")
    assert reward == 0.0 and info["replay"] == {"steps": 1, "recorded_steps": 1, "complete": False}


@pytest.mark.slow
def test_replay_reproduces_the_reward_of_a_recorded_episode(tmp_path):
    env = RecordTrajectory(make(tmp_path, max_steps=10, time_limit_s=600), tmp_path / "runs", agent="sft")
    try:
        env.reset(seed=5)
        for action in TRAIN_EPISODE:
            obs, _, terminated, truncated, _ = env.step(action)
            assert not obs["error"], obs["error"]
    finally:
        env.close()
    assert terminated and not truncated
    result = lines(env.path)[-1]
    assert result["status"] == "ok" and result["reward"] != 0.0, result

    reward, info = replay(env.path, workspace_root=tmp_path / "ws2")
    assert info["replay"]["complete"] and info["status"] == "ok"
    assert reward == result["reward"] and info["score"] == result["score"]
    assert math.isclose(info["uplift"], result["uplift"])
