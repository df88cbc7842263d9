"""Integrity checks fail closed, attacked through ``env.step`` (issue 14: F4 and item 9).

- F4: the contamination scan passed when its byte caps were hit, and NUL bytes counted as
  text: four 129 MB ``.jsonl`` files of NULs, each passed to ``train``, filled the 512 MB budget,
  and 500 test items trained on after them were never read.
- Item 9: test items the agent sends through the tools (``write_file`` contents, commands)
  and deletes before grading are found in the tool-call text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.benchmarks import get_benchmark
from ptb_env.integrity import IntegrityConfig
from ptb_env.sandbox import SandboxUnavailable, find_bwrap

TASK = "tiny-facts"  # its base score takes seconds: reset stays cheap
COPY_BASE = "cp -r base_model/. final_model/"


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    made: list[gym.Env] = []

    def _make(**kwargs: Any) -> gym.Env:
        env = gym.make("PostTrain-v0", task=TASK, workspace_root=tmp_path / "ws", **kwargs)
        made.append(env)
        env.reset(seed=0)
        return env

    yield _make
    for env in made:
        env.close()


def step(env: gym.Env, tool: str, **args: Any) -> dict:
    obs = env.step({"tool": tool, "args": args})[0]
    return obs


def bash(env: gym.Env, command: str) -> str:
    obs = step(env, "bash", command=command, timeout=120)
    return obs["output"] + obs["error"]


def train_and_kill(env: gym.Env, data: str) -> None:
    """``train`` on ``data`` (the tool snapshots it), then kill the job: the snapshot is what counts."""
    obs = step(env, "train", data=data, max_steps=1, batch_size=1)
    assert not obs["error"], obs["error"]
    job = int(re.search(r"started job (\d+)", obs["output"]).group(1))
    step(env, "job_kill", job_id=job)


def chat_jsonl(n: int) -> str:
    items = get_benchmark(TASK).items("test", limit=n)
    return "".join(json.dumps(it.chat_example()) + "\n" for it in items)


@pytest.mark.slow
def test_nul_padding_cannot_push_trained_test_items_past_the_scan(make_env):
    env = make_env(integrity=IntegrityConfig(lineage=False))
    for i in range(4):
        assert "rc=0" in bash(env, f"truncate -s 129M data/pad{i}.jsonl; echo rc=$?")
        train_and_kill(env, f"data/pad{i}.jsonl")
    (env.unwrapped.workspace.data_dir / "found.jsonl").write_text(chat_jsonl(500))  # as if leaked
    train_and_kill(env, "data/found.jsonl")
    bash(env, f"rm -f data/*.jsonl; {COPY_BASE}")  # hiding the files does not help: the snapshots stay
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated and (info["status"], reward) == ("disqualified", 0.0), info.get("reason")
    verdict = info["integrity"]["contamination"]
    assert verdict["passed"] is False and verdict["evidence"]["matched"] >= 450, verdict["reason"]
    assert verdict["evidence"]["incomplete"] == []  # NULs fill no budget: the scan read everything
    assert "train_data" in json.dumps(verdict["evidence"]["items"])


@pytest.mark.parametrize("channel", ["write_file", "bash"])
def test_test_items_sent_through_the_tools_then_deleted_are_found(make_env, channel):
    env = make_env(integrity=IntegrityConfig(lineage=False))
    data = chat_jsonl(50)
    if channel == "write_file":
        assert not step(env, "write_file", path="data/mine.jsonl", content=data)["error"]
    else:
        bash(env, f"cat > /tmp/mine.jsonl <<'EOF'\n{data}EOF\nwc -l /tmp/mine.jsonl")
    bash(env, f"rm -f data/mine.jsonl /tmp/mine.jsonl; {COPY_BASE}")
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated and (info["status"], reward) == ("disqualified", 0.0), info.get("reason")
    verdict = info["integrity"]["contamination"]
    assert verdict["evidence"]["matched"] >= 45 and channel in json.dumps(verdict["evidence"]["items"])


def test_test_items_left_only_in_the_sandbox_tmp_are_found(make_env):
    """Item 9: items that reach /tmp only (base64 through the tools, decoded inside) are scanned."""
    import base64

    env = make_env(integrity=IntegrityConfig(lineage=False))
    packed = base64.b64encode(chat_jsonl(50).encode()).decode()
    bash(env, f"echo {packed} | base64 -d > /tmp/mine.jsonl; wc -l /tmp/mine.jsonl; {COPY_BASE}")
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated and (info["status"], reward) == ("disqualified", 0.0), info.get("reason")
    verdict = info["integrity"]["contamination"]
    assert verdict["evidence"]["matched"] >= 45 and "mine.jsonl" in json.dumps(verdict["evidence"]["items"])


def test_host_trees_the_sandbox_mounts_in_tmp_are_not_the_agents_to_scan(make_env, tmp_path):
    """A clone or venv in the host's /tmp appears inside the sandbox's private /tmp (a read-only
    bind). The scan of /tmp at grading copied and read all of it (gigabytes of a venv: minutes
    per graded episode in a CI clone under /tmp); it now leaves out the sandbox's own mounts,
    and what the agent puts in /tmp, even copied from such a mount, is still found."""
    from ptb_env.sandbox import SandboxConfig

    host = tmp_path / "host-tree"  # pytest's tmp_path lies in the host's /tmp
    host.mkdir()
    (host / "lib.jsonl").write_text(chat_jsonl(50), encoding="utf-8")
    if not host.is_relative_to("/tmp"):
        pytest.skip("the test's folder is not under /tmp")
    config = SandboxConfig(extra_ro_binds=(host,))
    env = make_env(integrity=IntegrityConfig(lineage=False), sandbox_config=config)
    assert "lib.jsonl" in bash(env, f"ls {host}; {COPY_BASE}")
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated and (info["status"], reward) == ("ok", 0.0), info.get("reason")

    env = make_env(integrity=IntegrityConfig(lineage=False), sandbox_config=config)
    bash(env, f"cp {host}/lib.jsonl /tmp/mine.jsonl; {COPY_BASE}")
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated and info["status"] == "disqualified", info.get("reason")
    assert "mine.jsonl" in json.dumps(info["integrity"]["contamination"]["evidence"]["items"])
