"""The sandbox's path mapping: inner paths under bubblewrap, the workspace's host paths without it."""

from __future__ import annotations

import os

import pytest

from ptb_env.errors import WorkspaceError
from ptb_env.sandbox import SandboxConfig, SandboxPaths
from ptb_env.workspace import SNAPSHOT_DIR


def test_bwrap_paths_are_the_mount_points(workspace):
    p = SandboxPaths.of(workspace, "bwrap", SandboxConfig(inner_workspace="/home/agent"))
    assert (p.workspace, p.control, p.model) == ("/home/agent", "/run/ptb", "/opt/ptb/base_model")
    assert (p.host_workspace, p.host_control) == (workspace.root, workspace.control_dir)
    assert p.inner("data/x.jsonl") == "/home/agent/data/x.jsonl"
    assert p.inner("/tmp/x", write=True) == "/tmp/x"  # the sandbox's own /tmp
    assert p.in_control(SNAPSHOT_DIR, "1.jsonl") == f"/run/ptb/{SNAPSHOT_DIR}/1.jsonl"


def test_unsandboxed_paths_are_the_hosts(workspace):
    p = SandboxPaths.of(workspace, "none", SandboxConfig())
    root = str(workspace.root)
    assert (p.workspace, p.control, p.model) == (
        root,
        str(workspace.control_dir),
        str(workspace.base_model_dir),
    )
    assert p.inner("data/x.jsonl") == f"{root}/data/x.jsonl"
    assert p.inner(f"{root}/notes.txt", write=True) == f"{root}/notes.txt"
    assert p.inner("base_model/config.json") == f"{root}/base_model/config.json"  # reading the model is fine


@pytest.mark.parametrize("path", ["/workspace/TASK.md", "/tmp/x", "../other/x", "data/../../x"])
def test_unsandboxed_paths_outside_the_workspace_are_refused(workspace, path):
    p = SandboxPaths.of(workspace, "none", SandboxConfig())
    with pytest.raises(WorkspaceError, match=f"outside the workspace \\({workspace.root}\\)"):
        p.inner(path)
    assert p.workspace_rel(path) is None


def test_unsandboxed_workspace_path_names_the_real_one(workspace):
    why = SandboxPaths.of(workspace, "none", SandboxConfig()).outside("/workspace/data")
    assert "There is no /workspace here" in why and str(workspace.root) in why


def test_unsandboxed_writes_through_links_out_of_the_workspace_are_refused(workspace):
    p = SandboxPaths.of(workspace, "none", SandboxConfig())
    with pytest.raises(WorkspaceError, match="through a link"):
        p.inner("base_model/config.json", write=True)
    os.symlink("/tmp", workspace.root / "out")
    with pytest.raises(WorkspaceError, match="through a link"):
        p.inner("out/x", write=True)


@pytest.mark.parametrize("kind", ["bwrap", "none"])
def test_workspace_rel_maps_the_agents_names(workspace, kind):
    p = SandboxPaths.of(workspace, kind, SandboxConfig())
    assert p.workspace_rel("final_model") == "final_model"
    assert p.workspace_rel(f"{p.workspace}/data/x.jsonl") == "data/x.jsonl"
    assert p.workspace_rel("/etc/passwd") is None
