"""Per-episode workspace: base model (linked), visible data, task card, timer.

Layout of a workspace (the agent sees it at ``/workspace`` inside the sandbox)::

    <root>/<episode_id>/            the workspace, the agent's only writable place
        TASK.md                     the task card
        base_model -> <model dir>   symlink, never a copy (read-only bind inside the sandbox)
        data/                       visible files (dev split, ...), copied (they are small)
        final_model/                empty; the agent leaves its checkpoint here
    <root>/<episode_id>.ctl/        control directory, read-only inside the sandbox
        bin/timer                   prints the time (and steps, dev evaluations) left
        budget                      the deadline and counters ``timer`` reads
    <root>/<episode_id>.owner       the process that owns the episode (``ptb_env.owner``);
                                    outside both mounts, so the agent never sees the host pid

Creation does a constant amount of work whatever the size of the model: the
model is linked, and only the visible files (small by contract) are copied.

Host code must never follow a path the agent controls blindly: a symlink in
the workspace may point anywhere on the host. :meth:`Workspace.resolve` and
:meth:`Workspace.export` refuse paths that leave the workspace.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ptb_env.budget import Budget
from ptb_env.errors import WorkspaceError
from ptb_env.owner import OWNER_SUFFIX, write_owner_file
from ptb_env.safe_fs import CopyBudget, Tree, UnsafePathError, copy_tree

TASK_CARD_TEMPLATE = """\
# Task: {title}

{body}

## Your computer
- Workspace: `{workspace}` (your home; the only writable place besides `/tmp`).
- Base model: `{workspace}/base_model` (read-only). Leave your checkpoint in
  `{workspace}/final_model/` (safetensors weights, config and tokenizer).
- Visible data: `{workspace}/data/`.
- Run `timer` to see the time left.
"""

_TIMER_SCRIPT = """\
#!/bin/sh
# Prints what is left of this episode's budget (written by the environment).
f="$(dirname "$0")/../budget"
[ -r "$f" ] || { echo "timer: budget file missing" >&2; exit 1; }
. "$f"
if [ -n "$deadline_epoch" ]; then
  left=$((deadline_epoch - $(date +%s)))
  [ "$left" -lt 0 ] && left=0
  printf 'time left: %d:%02d:%02d\\n' $((left / 3600)) $((left % 3600 / 60)) $((left % 60))
else
  echo "time left: unlimited"
fi
[ -n "$steps_left" ] && echo "steps left: $steps_left"
[ -n "$dev_evals_left" ] && echo "dev evaluations left: $dev_evals_left"
[ -n "$compute_tflop_left" ] && echo "compute left: $compute_tflop_left TFLOP"
exit 0
"""


SNAPSHOT_DIR = "train_data"
"""Control-directory folder of the ``train`` tool's data snapshots (scanned at grading)."""


@dataclass(frozen=True)
class WorkspaceLayout:
    """Names inside a workspace (relative paths).

    Attributes:
        base_model: Link to the base model directory.
        data: Directory of visible files.
        final_model: Directory where the agent leaves its checkpoint.
        task_card: The task card file.
        jobs: Directory of background-job logs.
    """

    base_model: str = "base_model"
    data: str = "data"
    final_model: str = "final_model"
    task_card: str = "TASK.md"
    jobs: str = ".jobs"


class Workspace:
    """One episode's directory on the host (see the module docstring).

    Use :meth:`create`; the constructor only wraps existing directories.

    Args:
        root: The workspace directory.
        control_dir: Its control directory (timer, budget file).
        base_model_dir: Resolved base-model directory the workspace links to.
        layout: Names inside the workspace.
    """

    def __init__(
        self,
        root: Path,
        control_dir: Path,
        base_model_dir: Path,
        layout: WorkspaceLayout = WorkspaceLayout(),
    ) -> None:
        self.root = Path(root)
        self.control_dir = Path(control_dir)
        self.base_model_dir = Path(base_model_dir)
        self.layout = layout
        self.agent_view: dict[str, Path] = {}
        """``{absolute path the agent sees: host directory}``, set by the sandbox that runs the agent
        (e.g. ``/workspace`` -> ``root``); links the agent makes are resolved through it."""

    @classmethod
    def create(
        cls,
        root_dir: str | os.PathLike[str],
        base_model_dir: str | os.PathLike[str],
        *,
        task_card: str,
        visible_files: Mapping[str, str | os.PathLike[str] | bytes] | None = None,
        episode_id: str | None = None,
        layout: WorkspaceLayout = WorkspaceLayout(),
    ) -> Workspace:
        """Create a fresh workspace under ``root_dir``.

        Args:
            root_dir: Parent of all workspaces (created if missing).
            base_model_dir: The base model (an HF model directory); linked, never copied.
            task_card: Text of ``TASK.md``.
            visible_files: ``{name in data/: source path or bytes}``; copied.
            episode_id: Directory name (a random one by default).
            layout: Names inside the workspace.

        Returns:
            The new workspace.

        Raises:
            WorkspaceError: Missing model, bad file name, or an existing workspace.
        """
        model = Path(base_model_dir).resolve()
        if not model.is_dir():
            raise WorkspaceError(
                f"Base model directory {str(model)!r} does not exist; build the tiny model "
                "first or pass the directory of an HF model."
            )
        episode_id = episode_id or f"ep-{secrets.token_hex(6)}"
        if "/" in episode_id or episode_id.startswith("."):
            raise WorkspaceError(f"Episode id {episode_id!r} must be a plain directory name.")
        parent = Path(root_dir).resolve()
        parent.mkdir(parents=True, exist_ok=True)
        root, ctl = parent / episode_id, parent / f"{episode_id}.ctl"
        owner_file = parent / f"{episode_id}{OWNER_SUFFIX}"
        made: list[Path] = []
        try:  # the owner file first: whatever follows, a dead owner's leftovers are reclaimable
            write_owner_file(owner_file)
            made.append(owner_file)
            for path in (root, ctl):
                path.mkdir()
                made.append(path)
        except FileExistsError as err:
            for path in reversed(made):
                if path == owner_file:
                    path.unlink()
                else:
                    path.rmdir()
            raise WorkspaceError(
                f"Workspace {str(root)!r} already exists; pick another episode id or remove it."
            ) from err
        ws = cls(root, ctl, model, layout)
        try:
            ws._populate(task_card, visible_files or {})
        except BaseException:
            ws.remove()
            raise
        return ws

    def _populate(self, task_card: str, visible: Mapping[str, str | os.PathLike[str] | bytes]) -> None:
        lay = self.layout
        os.symlink(self.base_model_dir, self.root / lay.base_model, target_is_directory=True)
        for name in (lay.data, lay.final_model, lay.jobs):
            (self.root / name).mkdir()
        (self.root / lay.task_card).write_text(task_card, encoding="utf-8")
        data = self.root / lay.data
        for name, src in visible.items():
            rel = Path(name)
            if rel.is_absolute() or ".." in rel.parts:
                raise WorkspaceError(f"Visible file name {name!r} must be relative, without '..'.")
            dest = data / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                dest.write_bytes(src)
            else:
                shutil.copyfile(src, dest)
        (self.control_dir / "bin").mkdir()
        timer = self.control_dir / "bin" / "timer"
        timer.write_text(_TIMER_SCRIPT, encoding="utf-8")
        timer.chmod(0o755)
        self.write_budget(None)

    # -- paths -------------------------------------------------------------

    @property
    def final_model(self) -> Path:
        """Host path of ``final_model/``."""
        return self.root / self.layout.final_model

    @property
    def data_dir(self) -> Path:
        """Host path of ``data/``."""
        return self.root / self.layout.data

    @property
    def task_card_path(self) -> Path:
        """Host path of the task card."""
        return self.root / self.layout.task_card

    @property
    def snapshot_dir(self) -> Path:
        """Host folder of the ``train`` tool's data snapshots (``/run/ptb/train_data`` inside, read-only)."""
        return self.control_dir / SNAPSHOT_DIR

    @property
    def timer_path(self) -> Path:
        """Host path of the ``timer`` command."""
        return self.control_dir / "bin" / "timer"

    def tree(self) -> Tree:
        """The workspace as an adversarial tree: its inner paths and the base model as trusted alias."""
        inner = tuple(k for k, v in self.agent_view.items() if v == self.root)
        aliases = {k: v for k, v in self.agent_view.items() if v != self.root}
        aliases.setdefault(str(self.base_model_dir), self.base_model_dir)
        return Tree(self.root, inner, aliases)

    def resolve(self, rel: str | os.PathLike[str]) -> str:
        """Check that a path the agent named stays in the workspace or the base model.

        Links are resolved textually (``ptb_env.safe_fs``), never by the kernel.

        Returns:
            What it names: ``"file"``, ``"dir"`` or ``"other"``.

        Raises:
            WorkspaceError: The path leaves the workspace, loops, or does not exist.
        """
        try:
            fd = self.tree().open(os.fspath(rel))
        except OSError as err:
            raise WorkspaceError(_why(rel, err)) from None
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"

    def export(
        self,
        rel: str | os.PathLike[str],
        dest: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        max_file_size: float = float("inf"),
    ) -> bool:
        """Copy a file or directory tree out of the workspace, safe while the agent's processes run.

        Every component is opened without following links (``ptb_env.safe_fs``); links are
        resolved textually and only inside the workspace or the base model; anything that
        is not a regular file or a directory, a directory reached twice, or a tree over
        the caps is refused. Holes stay holes; ``max_bytes`` counts the data actually read.

        Args:
            rel: Path in the workspace (relative, or absolute as the agent sees it).
            dest: Destination on the host (must not exist, but for a directory).
            max_bytes: Data bytes the copy may read in all.
            max_file_size: Largest apparent size of one file.

        Returns:
            Whether ``rel`` was a directory.

        Raises:
            WorkspaceError: Why the copy was refused (the message names only inner paths).
        """
        budget = CopyBudget(float("inf") if max_bytes is None else max_bytes)
        try:
            return copy_tree(self.tree(), os.fspath(rel), Path(dest), budget, max_file_size=max_file_size)
        except OSError as err:
            raise WorkspaceError(_why(rel, err)) from None

    # -- budget ------------------------------------------------------------

    def write_budget(self, budget: Budget | None) -> None:
        """Publish the budget left for ``timer`` (atomically; the agent cannot write it)."""
        lines = []
        if budget is not None:
            deadline = budget.deadline_epoch()
            if deadline is not None:
                lines.append(f"deadline_epoch={int(deadline)}")
            for name, left in budget.left().items():
                if name != budget.wall_clock.name and left != float("inf"):
                    shown = f"{left:.3f}" if isinstance(left, float) else str(left)
                    lines.append(f"{name}_left={shown}")
        tmp = self.control_dir / ".budget.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, self.control_dir / "budget")

    # -- accounting and removal -------------------------------------------

    def disk_usage(self, max_files: int | None = None) -> tuple[int, int]:
        """Bytes on disk and number of entries of the episode: the workspace and the data snapshots.

        Symlinks are not followed. Args:
            max_files: Stop counting past this many entries (the walk stays bounded).
        """
        total, count, stack = 0, 0, [str(self.root), str(self.snapshot_dir)]
        while stack:
            try:
                it = os.scandir(stack.pop())
            except OSError:
                continue
            with it:
                for entry in it:
                    count += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    if max_files is not None and count > max_files:
                        return total, count
        return total, count

    @property
    def owner_file(self) -> Path:
        """Host path of the file naming the process that owns the workspace (``ptb_env.owner``)."""
        return self.root.parent / f"{self.root.name}{OWNER_SUFFIX}"

    def remove(self) -> None:
        """Delete the workspace, its control directory, then its owner file (idempotent)."""
        for path in (self.root, self.control_dir):
            if path.is_symlink():
                path.unlink()
            elif path.exists():
                try:
                    if sys.version_info >= (3, 12):
                        shutil.rmtree(path, onexc=_force_remove)
                    else:
                        shutil.rmtree(path, onerror=_force_remove)
                except RecursionError:  # deeper than Python's recursion limit (`mkdir -p a/a/a/...`)
                    pass
                if path.exists():  # coreutils walk any depth and any path length
                    subprocess.run(["chmod", "-R", "u+rwx", "--", str(path)], capture_output=True)
                    subprocess.run(["rm", "-rf", "--", str(path)], capture_output=True)
        if not (os.path.lexists(self.root) or os.path.lexists(self.control_dir)):
            self.owner_file.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"Workspace(root={str(self.root)!r}, base_model={str(self.base_model_dir)!r})"


def _why(rel: str | os.PathLike[str], err: OSError) -> str:
    """An agent-facing reason for a refused path that names no host path."""
    shown = repr(os.fspath(rel).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
    if isinstance(err, UnsafePathError):
        return f"{shown}: {err.strerror}."
    what = {
        errno.ENOENT: "does not exist",
        errno.ENOTDIR: "has a component that is not a directory",
        errno.EACCES: "is not readable",
        errno.ENAMETOOLONG: "is too long",
        errno.ELOOP: "is a symlink loop",
    }.get(err.errno or 0, f"cannot be read ({os.strerror(err.errno or 0)})")
    return f"{shown} {what}."


def _force_remove(func: Callable[[str], object], path: str, _exc: object) -> None:
    """Make read-only directories writable and retry (agents chmod things)."""
    parent = os.path.dirname(path)
    try:
        os.chmod(parent, 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)
    except OSError:
        pass
