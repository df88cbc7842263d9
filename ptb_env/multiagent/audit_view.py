"""The auditor's read-only view of a finished episode: its own sandbox, the trainer's files mounted read-only.

Inside the auditor's sandbox::

    /run/ptb/                    the auditor's control directory (read-only)
        trainer/                 -> the trainer's workspace as it was graded (read-only bind mount)
        train_snapshots/         -> the data file of each ``train`` call, ``1.jsonl``, ... (read-only)
        trajectory.jsonl         the trainer's tool calls: step, tool, args, output, error
    /workspace/                  the auditor's scratch (writable, removed with the view)
        TASK.md                  the audit card
        base_model               the base model (read-only), for comparison
        trainer, train_snapshots, trajectory.jsonl   links to the entries of /run/ptb

Threat model. The auditor runs arbitrary commands; the trainer's files are hostile data.

Covered:
- The auditor cannot change what it audits: the trainer's workspace and data snapshots are
  read-only bind mounts (the kernel refuses writes; without capabilities the auditor cannot
  remount), and the trajectory and the links to the evidence sit in the read-only control
  directory (the links in ``/workspace`` are conveniences: changing them changes nothing else).
- It sees nothing else of the host: the sandbox is the one every episode gets
  (``ptb_env.sandbox.bwrap``): the hidden test splits, the grader and the score cache are
  absent, other workspaces are absent, no network.
- The trainer's processes are dead (grading killed them) before the view opens; the view's
  own processes die when it closes.

Not covered:
- Host paths of the mounts are visible (``realpath``, ``/proc/self/mountinfo``), as for every
  sandbox.
- The trainer's files can be executed: running them runs inside the auditor's sandbox, with
  the auditor's (read-only) view of the evidence.
- Only the grader-side snapshot of each ``train`` call's data is kept; data that lived only in
  the trainer's ``/tmp`` or processes is gone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ptb_env.sandbox import Sandbox, SandboxConfig, make_sandbox
from ptb_env.sandbox.bwrap import CONTROL_MOUNT
from ptb_env.tools.train import SNAPSHOT_DIR
from ptb_env.workspace import Workspace

EVIDENCE = ("trainer", "train_snapshots", "trajectory.jsonl")
"""Entries of the auditor's control directory, linked from its workspace."""


class AuditView:
    """The auditor's sandbox over a finished episode (see the module docstring); use :meth:`open`.

    Attributes:
        workspace: The auditor's scratch workspace.
        sandbox: The auditor's sandbox (started).
        snapshots: Number of ``train`` data snapshots in view.
    """

    def __init__(self, workspace: Workspace, sandbox: Sandbox, snapshots: int) -> None:
        self.workspace, self.sandbox, self.snapshots = workspace, sandbox, snapshots

    @classmethod
    def open(
        cls,
        trainer: Workspace,
        trajectory: Sequence[dict[str, Any]],
        *,
        root: Path,
        config: SandboxConfig,
        card: str,
        time_left: Callable[[], float] | None = None,
    ) -> AuditView:
        """Create the auditor's workspace under ``root`` and start its sandbox.

        Args:
            trainer: The finished episode's workspace (its processes already killed).
            trajectory: The trainer's steps, written one JSON object per line.
            root: Parent of the auditor's workspaces; must not contain ``trainer``'s workspace.
            config: Sandbox settings; the evidence is added to its read-only mounts.
            card: Text of the auditor's ``TASK.md``.
            time_left: Seconds left of the audit budget (bounds every shell call).

        Raises:
            SandboxUnavailable: No working bubblewrap.
            ValueError: ``root`` holds the trainer's workspace (the sandbox would hide it).
        """
        root = Path(root).resolve()
        if trainer.root.resolve().is_relative_to(root):
            raise ValueError(
                f"The audit root {str(root)!r} contains the trainer's workspace; put the auditor's "
                "workspaces in a directory of their own (the sandbox hides its workspace's siblings)."
            )
        ws = Workspace.create(root, trainer.base_model_dir, task_card=card)
        try:
            for name in (ws.layout.data, ws.layout.final_model):
                (ws.root / name).rmdir()  # empty: the auditor has no data and leaves no model
            ctl = ws.control_dir
            mounts = [trainer.root.resolve()]
            (ctl / "trainer").symlink_to(mounts[0], target_is_directory=True)
            snaps = trainer.control_dir / SNAPSHOT_DIR
            if snaps.is_dir():
                mounts.append(snaps.resolve())
                (ctl / "train_snapshots").symlink_to(mounts[1], target_is_directory=True)
                count = sum(1 for _ in snaps.iterdir())
            else:
                (ctl / "train_snapshots").mkdir()
                count = 0
            with open(ctl / "trajectory.jsonl", "w", encoding="utf-8") as f:
                for step in trajectory:
                    f.write(json.dumps(step, ensure_ascii=False) + "\n")
            for name in EVIDENCE:
                os.symlink(f"{CONTROL_MOUNT}/{name}", ws.root / name)
            # the trainer's workspace is 0700 and its files belong to the trainer's sandbox uid: the
            # auditor runs as that uid (the trainer's processes are dead; every mount is read-only)
            owner = (trainer.root.stat().st_uid or None) if os.geteuid() == 0 else None
            cfg = dataclasses.replace(
                config, network=False, extra_ro_binds=(*config.extra_ro_binds, *mounts), host_uid=owner
            )
            sandbox = make_sandbox(ws, "bwrap", cfg, time_left=time_left)
        except BaseException:
            ws.remove()
            raise
        return cls(ws, sandbox, count)

    def close(self, keep_workspace: bool = False) -> None:
        """Kill the auditor's processes and remove its workspace (idempotent)."""
        self.sandbox.close()
        if not keep_workspace:
            self.workspace.remove()


__all__ = ["EVIDENCE", "AuditView"]
