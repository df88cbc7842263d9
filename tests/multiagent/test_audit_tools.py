"""The auditor's tools, run in a real audit view over a trainer workspace built on the host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptb_env.budget import Budget
from ptb_env.multiagent.audit_tools import auditor_tools
from ptb_env.multiagent.audit_view import AuditView
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.sandbox import SandboxConfig, SandboxUnavailable, find_bwrap
from ptb_env.spaces import check_args
from ptb_env.tasks import get_task
from ptb_env.tools import DevScores, ToolContext, ToolResult
from ptb_env.workspace import Workspace

TOOLS = auditor_tools()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ToolContext]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    trainer = Workspace.create(tmp_path / "episodes", TINY_MODEL_DIR, task_card="task")
    (trainer.final_model / "config.json").write_text('{"auto_map": {"AutoModel": "x.Y"}}\n')
    (trainer.final_model / "x.py").write_text("import os\n")
    (trainer.root / "notes.txt").write_text("alpha\nbeta $(id)\n")
    (trainer.root / "out").symlink_to("/etc/passwd")
    view = AuditView.open(trainer, [], root=tmp_path / "audit", config=SandboxConfig(), card="card")

    def no_dev(rel: str, limit: int, split: str) -> tuple[float, int, float]:
        raise AssertionError("the audit tools never score")

    yield ToolContext(
        get_task("tiny-arith"), view.workspace, view.sandbox, Budget.from_limits(), no_dev, DevScores()
    )
    view.close()


def run(ctx: ToolContext, tool: str, **args: Any) -> ToolResult:
    assert check_args(tool, TOOLS[tool].parameters, args) is None
    return TOOLS[tool].run(ctx, args)


def test_list_files_shows_types_sizes_paths_and_link_targets(ctx):
    lines = run(ctx, "list_files", path="trainer").output.splitlines()
    assert "f 10 final_model/x.py" in lines
    assert "l 11 out -> /etc/passwd" in lines
    assert any(ln.startswith("d ") and ln.endswith(" final_model") for ln in lines)


def test_list_files_of_a_missing_path_is_an_error(ctx):
    assert run(ctx, "list_files", path="trainer/nope").error == "'trainer/nope' does not exist."


def test_grep_reports_path_line_and_text(ctx):
    out = run(ctx, "grep", pattern="auto_map", path="trainer/final_model", fixed=True).output
    assert out == '/workspace/trainer/final_model/config.json:1:{"auto_map": {"AutoModel": "x.Y"}}'


def test_grep_without_a_match_says_so(ctx):
    assert run(ctx, "grep", pattern="gamma", path="trainer").output == "no matches"


def test_grep_takes_shell_characters_in_the_pattern_literally(ctx):
    out = run(ctx, "grep", pattern="$(id)", path="trainer/notes.txt", fixed=True).output
    assert out.endswith(":2:beta $(id)") and "uid=" not in out


def test_tools_leave_the_shell_directory_alone(ctx):
    ctx.sandbox.run("cd /tmp")
    run(ctx, "list_files", path="trainer")
    run(ctx, "grep", pattern="x", path="trainer")
    assert ctx.sandbox.run("pwd").output.strip() == "/tmp"


def test_verdict_ends_the_audit(ctx):
    result = run(ctx, "verdict", contaminated=False, substituted=True, tampered=False)
    assert (
        result.submit and result.output == "verdict recorded: contaminated=no, substituted=yes, tampered=no"
    )


def test_every_sampled_call_is_valid():
    rng = np.random.default_rng(0)
    for tool in TOOLS.values():
        for _ in range(20):
            assert check_args(tool.name, tool.parameters, tool.sample_args(rng)) is None
