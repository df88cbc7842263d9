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

Creation does a constant amount of work whatever the size of the model: the
model is linked, and only the visible files (small by contract) are copied.

Host code must never follow a path the agent controls blindly: a symlink in
the workspace may point anywhere on the host. :meth:`Workspace.resolve` and
:meth:`Workspace.export` refuse paths that leave the workspace.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ptb_env.budget import Budget
from ptb_env.errors import WorkspaceError

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
exit 0
"""


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
        try:
            root.mkdir()
            ctl.mkdir()
        except FileExistsError as err:
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
    def timer_path(self) -> Path:
        """Host path of the ``timer`` command."""
        return self.control_dir / "bin" / "timer"

    def resolve(self, rel: str | os.PathLike[str], *, allowed: Sequence[Path] = ()) -> Path:
        """Resolve a path the agent named, refusing anything outside the workspace.

        Symlinks are followed; the result must lie in the workspace or in one of
        ``allowed`` (e.g. the base model directory).

        Raises:
            WorkspaceError: The path leaves the workspace or is a symlink loop.
        """
        path = Path(rel)
        try:
            full = (path if path.is_absolute() else self.root / path).resolve()
        except (RuntimeError, OSError) as err:  # Python < 3.13 raises RuntimeError on a loop
            raise WorkspaceError(f"Path {str(rel)!r} cannot be resolved (a symlink loop?): {err}") from None
        for base in (self.root.resolve(), *(Path(a).resolve() for a in allowed)):
            if full == base or full.is_relative_to(base):
                return full
        raise WorkspaceError(f"Path {str(rel)!r} leaves the workspace (it resolves to {str(full)!r}).")

    def export(
        self, rel: str | os.PathLike[str], dest: str | os.PathLike[str], *, max_bytes: int | None = None
    ) -> Path:
        """Copy a file or directory tree out of the workspace without escaping it.

        Symlinks are followed only when they resolve inside the workspace or the
        base model; anything else (a link to a host file, a FIFO, a device) is
        refused, and so is a directory reached twice (a symlink loop). Use it to
        take the checkpoint out for grading.

        Args:
            rel: Path in the workspace (relative or absolute).
            dest: Destination on the host.
            max_bytes: Refuse to copy more than this many bytes in all.

        Returns:
            ``dest``.

        Raises:
            WorkspaceError: An entry escapes the workspace, is not a regular file, a
                directory repeats, or the tree exceeds ``max_bytes``.
        """
        budget = [float("inf") if max_bytes is None else max_bytes]
        return self._export(rel, Path(dest), set(), budget)

    def _export(self, rel: str | os.PathLike[str], dest: Path, seen: set[Path], budget: list[float]) -> Path:
        src = self.resolve(rel, allowed=(self.base_model_dir,))
        if src.is_dir():
            if src in seen:
                raise WorkspaceError(
                    f"{str(rel)!r} leads back to a directory already copied (a symlink loop)."
                )
            seen.add(src)
            dest.mkdir(parents=True, exist_ok=True)
            for entry in sorted(os.listdir(src)):
                self._export(src / entry, dest / entry, seen, budget)
            return dest
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise WorkspaceError(f"{str(rel)!r} is not a regular file; refusing to copy it.")
            budget[0] -= st.st_size
            if budget[0] < 0:
                raise WorkspaceError("The tree is larger than the copy limit; refusing to copy it.")
            with os.fdopen(fd, "rb", closefd=False) as fin, open(dest, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        finally:
            os.close(fd)
        return dest

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
                    lines.append(f"{name}_left={int(left)}")
        tmp = self.control_dir / ".budget.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, self.control_dir / "budget")

    # -- accounting and removal -------------------------------------------

    def disk_usage(self, max_files: int | None = None) -> tuple[int, int]:
        """Bytes on disk and number of entries in the workspace (symlinks not followed).

        Args:
            max_files: Stop counting past this many entries (the walk stays bounded).
        """
        total, count, stack = 0, 0, [str(self.root)]
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

    def remove(self) -> None:
        """Delete the workspace and its control directory (idempotent)."""
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

    def __repr__(self) -> str:
        return f"Workspace(root={str(self.root)!r}, base_model={str(self.base_model_dir)!r})"


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
