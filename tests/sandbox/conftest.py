"""Fixtures: a dummy base model, workspaces and real bubblewrap sandboxes (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb_env.sandbox import Sandbox, SandboxConfig, SandboxUnavailable, find_bwrap
from ptb_env.workspace import Workspace


def _bwrap_or_skip() -> None:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "dummy"}')
    (d / "model.safetensors").write_bytes(b"\0" * 64)
    return d


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    return tmp_path / "workspaces"


@pytest.fixture
def workspace(ws_root: Path, model_dir: Path) -> Iterator[Workspace]:
    ws = Workspace.create(ws_root, model_dir, task_card="# test task\n", visible_files={"dev.jsonl": b"{}\n"})
    yield ws
    ws.remove()


SMALL = SandboxConfig(
    memory_mb=512, max_procs=128, max_file_size_mb=64, workspace_disk_mb=200, tmp_size_mb=64
)


@pytest.fixture
def make(workspace: Workspace) -> Iterator:
    """Factory of started bwrap sandboxes over ``workspace``; all closed at teardown."""
    _bwrap_or_skip()
    made: list[Sandbox] = []

    def _make(config: SandboxConfig = SMALL, ws: Workspace | None = None, **kw) -> Sandbox:
        sb = Sandbox(ws or workspace, config, kind="bwrap", **kw)
        sb.start()
        made.append(sb)
        return sb

    yield _make
    for sb in made:
        sb.close()


@pytest.fixture
def sandbox(make) -> Sandbox:
    return make()
