"""The file tools refuse what is not a regular file, and nothing the agent plants can hang them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.sandbox import Sandbox, SandboxConfig, SandboxUnavailable, find_bwrap
from ptb_env.tools import default_tools
from ptb_env.tools.base import ToolContext
from ptb_env.workspace import Workspace

TOOLS = default_tools()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ToolContext]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    ws = Workspace.create(tmp_path / "ws", TINY_MODEL_DIR, task_card="# t\n")
    sb = Sandbox(ws, SandboxConfig(workspace_disk_mb=200))
    sb.start()
    yield ToolContext(task=None, workspace=ws, sandbox=sb, budget=None, score_dev=None)  # type: ignore[arg-type]
    sb.close()
    ws.remove()


def run(ctx: ToolContext, tool: str, **args):
    return TOOLS[tool].run(ctx, args)


def test_a_fifo_neither_hangs_nor_kills_the_shell(ctx):
    assert ctx.sandbox.run("mkfifo pipe && echo made").output == "made\n"
    t0 = time.monotonic()
    read, write = run(ctx, "read_file", path="pipe"), run(ctx, "write_file", path="pipe", content="x")
    assert "not a regular file" in read.error and "not a regular file" in write.error
    assert time.monotonic() - t0 < 5
    assert ctx.sandbox.run("echo alive").output == "alive\n"  # same shell: no restart note
    assert ctx.sandbox.generation == 1


def test_devices_are_refused_and_text_round_trips(ctx):
    assert "not a regular file" in run(ctx, "read_file", path="/dev/zero").error
    text = "λ 'quoted' \"double\" $(id) `id`\n中🙂 \\ end"
    assert not run(ctx, "write_file", path="d/e/f.txt", content=text).error
    assert run(ctx, "read_file", path="/workspace/d/e/f.txt").output == text
    assert not run(ctx, "write_file", path="d/e/f.txt", content="+", append=True).error
    assert (ctx.workspace.root / "d" / "e" / "f.txt").read_text() == text + "+"


def test_write_errors_are_reported(ctx):
    for path, why in (("/usr/x", "Read-only file system"), ("/workspace", "not a regular file")):
        assert why in run(ctx, "write_file", path=path, content="x").error
