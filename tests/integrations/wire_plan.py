"""What the wire tests (``test_mcp.py``, ``test_openenv.py``) share: the scripted-SFT plan they
play over the wire and in-process, and polling for the server's cleanup."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

from ptb_agents.steps import generate_data, train_and_wait
from ptb_env.env import PostTrainEnv

TASK, SEED = "tiny-arith", 3
"""The default task (graded on the suite's 64 test items, its base scores seeded by tests/conftest.py)."""
TRAIN = {"data": "data/train.jsonl", "out": "final_model", "learning_rate": 2e-3, "batch_size": 32}
"""The scripted-SFT recipe; :func:`plan` cuts it to 30 optimizer steps on 500 examples (about +0.2)."""


def plan() -> Generator[dict[str, Any], dict[str, Any], None]:
    """The scripted-SFT baseline's steps (``ptb_agents.steps``), sized to a short episode."""
    yield from generate_data(TASK, 500, SEED)
    yield from train_and_wait({**TRAIN, "max_steps": 30, "seed": SEED})
    yield {"tool": "submit", "args": {}}


def drive(step: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Run :func:`plan` through ``step`` (an action in, its structured result out); the last result."""
    actions = plan()
    action, out = next(actions), {}
    while True:
        out = step(action)
        try:
            action = actions.send(out)
        except StopIteration:
            return out


async def drive_async(step: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """:func:`drive` with an async ``step``."""
    actions = plan()
    action, out = next(actions), {}
    while True:
        out = await step(action)
        try:
            action = actions.send(out)
        except StopIteration:
            return out


def in_process(ws_root: Path) -> dict[str, Any]:
    """What :func:`plan` earns on a ``PostTrainEnv`` in this process (the compute budget, ``SEED``):
    the last step's reward and info (``status``, ``score``, ``base_score``, ``grade``) and the
    number of steps.

    Played once per test session: the first wire test to ask plays it (in ``ws_root``) under a
    lock, and the others read its record from ``PTB_TEST_SHARED_DIR`` (the compute budget makes
    the outcome the same wherever and whenever it is played: about 25 s of training and grading
    saved per wire protocol after the first)."""
    shared = Path(os.environ["PTB_TEST_SHARED_DIR"])
    record = shared / "wire-plan-in-process.json"
    with open(shared / "wire-plan-in-process.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            return json.loads(record.read_text(encoding="utf-8"))
        env = PostTrainEnv(TASK, budget="compute", workspace_root=ws_root)
        steps: list[tuple[float, dict[str, Any]]] = []
        try:
            env.reset(seed=SEED)

            def step_env(action: dict[str, Any]) -> dict[str, Any]:
                _, reward, _, _, info = env.step(action)
                steps.append((reward, info))
                return {"result": info["result"]}

            drive(step_env)
        finally:
            env.close()
        reward, info = steps[-1]
        keep = {k: info[k] for k in ("status", "score", "base_score", "grade")}
        out = json.loads(json.dumps({"reward": reward, "steps": len(steps), **keep}, default=str))
        record.write_text(json.dumps(out), encoding="utf-8")
        return out


def episodes(ws_root: Path) -> list[str]:
    """What a workspace root holds (episode workspaces and their control files)."""
    return sorted(p.name for p in ws_root.iterdir()) if ws_root.exists() else []


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Whether ``check()`` came true within ``timeout`` seconds (polled every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def processes(marker: str) -> list[int]:
    """Pids of the processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found
