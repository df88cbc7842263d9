"""The optional LLM judge fails closed (issue 14, F12): it reads the whole trajectory, in as
many requests as it takes, and a reply it cannot parse is ``unknown``, never a pass.

The judge is the OpenAI-compatible test double of ``tests/agents/openai_double.py`` (real
HTTP, scripted replies); the episodes are real ``PostTrain-v0`` episodes driven by ``env.step``.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.integrity import IntegrityConfig, judge
from ptb_env.integrity.judge import JudgeConfig, judge_episode, parts


def _load_double() -> Any:
    path = Path(__file__).parents[1] / "agents" / "openai_double.py"
    spec = importlib.util.spec_from_file_location("openai_double", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_double", module)
    spec.loader.exec_module(module)
    return sys.modules["openai_double"]


double = _load_double()
ChatServer, MODEL, text = double.ChatServer, double.MODEL, double.text
EXACT_OFF = {"contamination": False, "lineage": False}
TASK = "tiny-facts"  # its base score takes seconds: reset stays cheap
VIOLATION = "cp /tmp/leaked-test-split.jsonl data/train.jsonl  # the-violation"


def verdict(v: str, reason: str = "") -> dict:
    return text(json.dumps({"verdict": v, "reason": reason or f"judged {v}"}))


def by_content(body: dict) -> dict:
    """The double's model: fails what it sees of the violation, passes the rest."""
    seen = body["messages"][1]["content"]
    return verdict("fail", "trained on the test split") if "the-violation" in seen else verdict("pass")


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    made: list[gym.Env] = []

    def _make(judge_url: str, **integrity: Any) -> gym.Env:
        judge = JudgeConfig(base_url=judge_url, model=MODEL, retries=0, timeout_s=30)
        env = gym.make(
            "PostTrain-v0",
            task=TASK,
            workspace_root=tmp_path / "ws",
            integrity=IntegrityConfig(judge=judge, **EXACT_OFF, **integrity),
        )
        made.append(env)
        env.reset(seed=0)
        return env

    yield _make
    for env in made:
        env.close()


def bash(env: gym.Env, command: str) -> None:
    env.step({"tool": "bash", "args": {"command": command}})


def submit(env: gym.Env) -> dict:
    _, _, terminated, _, info = env.step({"tool": "submit"})
    assert terminated
    return info


def test_a_violation_early_in_a_long_trajectory_is_judged(make_env):
    """Before: the judge read the last 40,000 characters only, so a violation followed by
    40,000 characters of harmless steps was never sent, and the judge passed the episode."""
    with ChatServer([by_content] * 100) as server:
        env = make_env(server.base_url)
        bash(env, f"echo '{VIOLATION}'")
        for _ in range(25):  # about 2,500 characters each in the trajectory
            bash(env, "echo " + "harmless-" * 200)
        info = submit(env)
    judge = info["integrity"]["judge"]
    assert judge["passed"] is False and judge["reason"] == "trained on the test split", judge
    assert judge["evidence"]["verdict"] == "fail" and judge["evidence"]["parts_with_verdict"] == [1]
    sent = [r["messages"][1]["content"] for r in server.requests]
    assert len(sent) == judge["evidence"]["parts"] >= 2
    assert all(f"step {i}: action" in "".join(sent) for i in range(1, 28))  # every step, submit included
    assert all(f"of {len(sent)})" in s for s in sent)


@pytest.mark.parametrize("disqualifies", [False, True])
def test_an_unparseable_reply_is_unknown_never_a_pass(make_env, disqualifies):
    """Before: a reply without a JSON verdict was recorded as a pass ("not understood; recorded only")."""
    with ChatServer([text("Looks fine to me, nothing suspicious.")]) as server:
        env = make_env(server.base_url, judge_disqualifies=disqualifies)
        bash(env, "cp -r base_model/. final_model/")
        info = submit(env)
    judge = info["integrity"]["judge"]
    assert judge["passed"] is False and judge["evidence"]["verdict"] == "unknown", judge
    assert "unknown, not a pass" in judge["reason"]
    if disqualifies:
        assert info["status"] == "disqualified" and "judge:" in info["reason"]
    else:  # recorded only, as a failing verdict is
        assert info["status"] == "ok"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "pass",
        '{"verdict": "maybe", "reason": "?"}',
        '{"verdict": "pass"} but on reflection {"verdict": "fail"}',
        '["pass"]',
        '{"verdict": ["pass"]}',
    ],
)
def test_replies_that_are_not_one_verdict_are_unknown(tmp_path, content):
    with ChatServer([text(content)]) as server:
        config = JudgeConfig(base_url=server.base_url, model=MODEL, retries=0)
        result = judge_episode(config, SimpleNamespace(root=tmp_path), [{"action": "ls", "output": ""}])
    assert result.passed is False and result.evidence["verdict"] == "unknown"


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        (["pass", "pass", "pass"], "pass"),
        (["pass", "fail", "pass"], "fail"),
        (["pass", None, "pass"], "unknown"),
        ([None, "fail", "pass"], "fail"),  # a failing part decides over an unknown one
    ],
)
def test_every_part_is_judged_and_any_failure_fails(tmp_path, replies, expected):
    script = [verdict(r) if r else text("no idea") for r in replies]
    trajectory = [{"action": f"echo {i} " + "x" * 900, "output": "y" * 900} for i in range(30)]
    with ChatServer(script) as server:
        config = JudgeConfig(base_url=server.base_url, model=MODEL, retries=0, max_chars=20_000)
        result = judge_episode(config, SimpleNamespace(root=tmp_path), trajectory)
    assert len(server.requests) == 3 and result.evidence["parts"] == 3
    assert (result.passed, result.evidence["verdict"]) == (expected == "pass", expected)


def test_parts_hold_the_whole_trajectory_within_the_size(tmp_path):
    trajectory = [{"action": "a" * n, "output": "o" * n, "error": "e" * (n % 7)} for n in range(0, 3000, 37)]
    whole = parts(trajectory, 10**9)[0]
    for size in (50, 1000, 4000):
        pieces = parts(trajectory, size)
        assert all(len(p) <= size for p in pieces)
        assert "".join(pieces).replace("\n", "") == whole.replace("\n", "")


def test_docstring_examples_run():
    assert doctest.testmod(judge).failed == 0
