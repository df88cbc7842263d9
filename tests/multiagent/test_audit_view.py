"""The auditor's view: each test checks one property of its isolation (real bubblewrap, no env).

A "trainer workspace" is built on the host as an episode leaves it; the view is opened over it
and the auditor's shell attacks it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptb_env.multiagent.audit_view import AuditView
from ptb_env.paths import PRIVATE_DIR, TINY_MODEL_DIR, cache_dir
from ptb_env.sandbox import SandboxConfig, SandboxUnavailable, find_bwrap
from ptb_env.tools.train import SNAPSHOT_DIR
from ptb_env.workspace import Workspace

TRAJECTORY = [{"step": 1, "tool": "bash", "args": {"command": "ls"}, "output": "x", "error": ""}]


@pytest.fixture
def trainer(tmp_path: Path) -> Workspace:
    ws = Workspace.create(tmp_path / "episodes", TINY_MODEL_DIR, task_card="task")
    (ws.final_model / "config.json").write_text('{"model_type": "qwen3"}')
    (ws.data_dir / "train.jsonl").write_text('{"messages": []}\n')
    (ws.control_dir / SNAPSHOT_DIR).mkdir()
    (ws.control_dir / SNAPSHOT_DIR / "1.jsonl").write_text('{"messages": ["snapshot"]}\n')
    return ws


@pytest.fixture
def view(trainer: Workspace, tmp_path: Path) -> Iterator[AuditView]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    v = AuditView.open(
        trainer, TRAJECTORY, root=tmp_path / "audit", config=SandboxConfig(), card="audit card"
    )
    yield v
    v.close()


def sh(view: AuditView, command: str) -> str:
    return view.sandbox.run(command, timeout=60).output


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_the_evidence_is_readable_at_the_documented_paths(view):
    out = sh(view, "cat trainer/data/train.jsonl train_snapshots/1.jsonl trajectory.jsonl TASK.md")
    assert '{"messages": []}' in out and "snapshot" in out and '{"step": 1' in out and "audit card" in out


def test_writes_to_the_trainer_workspace_fail_and_change_nothing(view, trainer):
    before = digest(trainer.root)
    out = sh(
        view,
        "touch trainer/new; echo x > trainer/data/train.jsonl; rm -rf trainer/final_model; "
        "mv trainer/data trainer/d2; chmod 000 trainer/data; ln -s / trainer/root; echo done",
    )
    assert "Read-only file system" in out and out.strip().endswith("done")
    assert digest(trainer.root) == before


def test_writes_to_the_snapshots_and_trajectory_fail(view, trainer):
    before = digest(trainer.control_dir / SNAPSHOT_DIR)
    out = sh(view, "echo x > train_snapshots/1.jsonl; echo y > trajectory.jsonl; rm -f /run/ptb/trainer")
    assert out.count("Read-only file system") == 3
    assert digest(trainer.control_dir / SNAPSHOT_DIR) == before
    lines = (view.workspace.control_dir / "trajectory.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == TRAJECTORY


def test_relinking_the_workspace_shortcut_leaves_the_evidence_in_place(view):
    out = sh(view, "rm trainer && mkdir trainer && touch trainer/fake; ls /run/ptb/trainer/data")
    assert "train.jsonl" in out


def test_the_hidden_test_split_and_score_cache_are_absent(view):
    out = sh(view, f"ls {PRIVATE_DIR}; ls {cache_dir()}; echo end")
    assert out.count("No such file or directory") == 2


def test_other_episodes_are_absent(view, trainer):
    other = Workspace.create(trainer.root.parent, TINY_MODEL_DIR, task_card="other episode")
    assert "No such file or directory" in sh(view, f"ls {other.root}")
    listed = set(sh(view, f"ls {trainer.root.parent}").split())
    assert listed <= {trainer.root.name, trainer.control_dir.name}


def test_closing_removes_the_auditor_workspace_and_leaves_the_trainers(view, trainer):
    view.close()
    assert not view.workspace.root.exists() and (trainer.root / "data" / "train.jsonl").is_file()


def test_a_root_that_holds_the_trainer_workspace_is_refused(trainer):
    with pytest.raises(ValueError, match="directory of their own"):
        AuditView.open(trainer, [], root=trainer.root.parent, config=SandboxConfig(), card="x")
