"""Integrity policy at grading: violations disqualify, the judge hook, the train tool's data snapshot."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.errors import GraderError
from ptb_env.integrity import IntegrityConfig
from ptb_env.integrity.judge import JudgeConfig
from ptb_env.paths import TINY_MODEL_DIR

EXACT_OFF = {"contamination": False, "lineage": False}


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    made: list[gym.Env] = []

    def _make(**kwargs: Any) -> gym.Env:
        env = gym.make("PostTrain-v0", workspace_root=tmp_path / "ws", **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def _submit_with(env: gym.Env, plant) -> dict:
    env.reset(seed=0)
    final = env.unwrapped.workspace.final_model
    for f in TINY_MODEL_DIR.iterdir():
        shutil.copyfile(f, final / f.name)
    plant(final)
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated
    info["reward"] = reward
    return info


def _pickle(final: Path) -> None:
    (final / "pytorch_model.bin").write_bytes(b"\x80\x04cposix\nsystem\n")


def _auto_map(final: Path) -> None:
    cfg = json.loads((final / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (final / "config.json").write_text(json.dumps(cfg))


def _code(final: Path) -> None:
    (final / "modeling_evil.py").write_text("import os\nos.system('touch /tmp/pwned')\n")


@pytest.mark.parametrize(
    ("plant", "reason"),
    [
        (_pickle, "pickle or code files"),
        (_auto_map, "'auto_map' (remote code)"),
        (_code, "pickle or code files"),
    ],
)
def test_rule_breaking_checkpoint_is_disqualified_with_the_penalty(make_env, plant, reason):
    env = make_env(integrity=IntegrityConfig(penalty=0.25, **EXACT_OFF))
    info = _submit_with(env, plant)
    assert info["status"] == "disqualified" and info["reward"] == -0.25
    assert reason in info["reason"]
    assert info["integrity"]["checkpoint"]["passed"] is False


def test_clean_copy_of_the_base_passes_every_check(make_env):
    env = make_env()
    info = _submit_with(env, lambda final: None)
    assert info["status"] == "ok" and info["reward"] == 0.0
    assert {k: v["passed"] for k, v in info["integrity"].items()} == {
        "contamination": True,
        "checkpoint": True,
        "lineage": True,
    }


class _JudgeDouble(BaseHTTPRequestHandler):
    """Test double of an OpenAI-compatible chat endpoint: answers with a fixed verdict."""

    verdict = "fail"
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        content = json.dumps({"verdict": self.verdict, "reason": "trained on the test split"})
        reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeDouble)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _JudgeDouble.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_judge_verdict_is_recorded_but_does_not_disqualify_by_default(make_env, judge_url):
    judge = JudgeConfig(base_url=judge_url, model="judge")
    env = make_env(integrity=IntegrityConfig(judge=judge, **EXACT_OFF))
    env.reset(seed=0)
    env.step({"tool": "bash", "args": {"command": "echo hello-judge"}})
    _, reward, _, _, info = env.step({"tool": "submit"})
    assert info["status"] == "invalid_checkpoint"  # empty final_model
    assert info["integrity"]["judge"]["passed"] is False
    assert info["integrity"]["judge"]["reason"] == "trained on the test split"
    sent = _JudgeDouble.seen[0]["messages"][1]["content"]
    assert "hello-judge" in sent and "TASK.md" in sent


def test_failing_judge_disqualifies_when_configured(make_env, judge_url):
    judge = JudgeConfig(base_url=judge_url, model="judge")
    env = make_env(integrity=IntegrityConfig(judge=judge, judge_disqualifies=True, **EXACT_OFF))
    info = _submit_with(env, lambda final: None)
    assert info["status"] == "disqualified" and "judge: trained on the test split" in info["reason"]


def test_unreachable_judge_is_recorded_or_an_infrastructure_error(make_env):
    judge = JudgeConfig(base_url="http://127.0.0.1:9/v1", model="judge", retries=0, timeout_s=2)
    env = make_env(integrity=IntegrityConfig(judge=judge, **EXACT_OFF))
    info = _submit_with(env, lambda final: None)
    assert info["status"] == "ok" and info["integrity"]["judge"]["reason"].startswith("judge unavailable")
    env = make_env(integrity=IntegrityConfig(judge=judge, judge_disqualifies=True, **EXACT_OFF))
    with pytest.raises(GraderError, match="LLM judge"):
        _submit_with(env, lambda final: None)


@pytest.mark.slow
def test_train_tool_trains_on_a_snapshot_the_agent_cannot_change(make_env):
    env = make_env(integrity=IntegrityConfig(**EXACT_OFF))
    env.reset(seed=0)
    gen = "python -m ptb_env.benchmarks.generate tiny-arith --n 40 --seed 1 --out data/train.jsonl"
    assert "[exit code: 0]" in env.step({"tool": "bash", "args": {"command": gen}})[0]["output"]
    obs = env.step({"tool": "train", "args": {"data": "data/train.jsonl", "max_steps": 1, "batch_size": 4}})[
        0
    ]
    assert not obs["error"], obs["error"]
    snap = env.unwrapped.workspace.control_dir / "train_data" / "1.jsonl"
    assert snap.read_bytes() == (env.unwrapped.workspace.data_dir / "train.jsonl").read_bytes()
    changed = env.step(
        {"tool": "bash", "args": {"command": "echo x > /run/ptb/train_data/1.jsonl; echo rc=$?"}}
    )[0]["output"]
    assert "rc=0" not in changed
    obs = env.step({"tool": "wait", "args": {"job_id": 1}})[0]
    assert "exit code 0" in obs["output"], obs["output"]
    log = env.step({"tool": "bash", "args": {"command": "cat .jobs/1.log"}})[0]["output"]
    assert "/run/ptb/train_data/1.jsonl" in env.unwrapped._ctx.sandbox.jobs.get(1).command, log


@pytest.mark.parametrize("data", ["/tmp/train.jsonl", "/etc/passwd", "../x.jsonl", "data"])
def test_train_data_outside_the_workspace_or_not_a_file_is_refused(make_env, data):
    env = make_env(integrity=IntegrityConfig(**EXACT_OFF))
    env.reset(seed=0)
    obs = env.step({"tool": "train", "args": {"data": data}})[0]
    assert obs["error"].startswith(("Training data", "Cannot read training data")), obs["error"]
    assert "job" not in obs["output"]
