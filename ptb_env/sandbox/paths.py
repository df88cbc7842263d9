"""Where an episode's directories are: as the agent names them, and on the host.

The one owner of the mapping between the paths the agent sees (*inner* paths)
and the host's. Under bubblewrap the workspace appears at ``/workspace``, the
control directory (``timer``, ``train`` snapshots) at ``/run/ptb`` and the base
model at ``/opt/ptb/base_model``. Unsandboxed (``sandbox="none"``) the agent sees
the host, so its inner paths are the host paths of the episode's directories.
Tools and the task card ask :attr:`Sandbox.paths <ptb_env.sandbox.Sandbox.paths>`;
nothing else spells ``/workspace``.

Threat model of the mapping (the isolation itself is in ``bwrap``):

Covered:
- Under bubblewrap every path the agent names is inside its own mount namespace:
  :meth:`SandboxPaths.inner` only makes relative paths absolute.
- Unsandboxed, the paths the tools act on stay in the episode's workspace: a
  relative path starts there, an absolute one (``/workspace/...`` of a sandboxed
  card, ``/tmp``, another episode) or one that climbs out with ``..`` is refused
  with the workspace's real path in the message; writes must also *resolve* into
  the workspace, so no tool writes through ``base_model`` into the host's model.

Not covered:
- Unsandboxed there is no boundary: the agent's shell runs as the env's user and
  reaches the whole host; the checks keep the tools from touching host paths by
  accident, not an adversary from doing it with ``bash``.
- Unsandboxed, the write check resolves links when the tool is called; a link the
  agent swaps in between (a background job) is followed.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from ptb_env.errors import WorkspaceError
from ptb_env.sandbox.bwrap import CONTROL_MOUNT, MODEL_MOUNT
from ptb_env.sandbox.config import SandboxConfig
from ptb_env.workspace import Workspace

SANDBOXED_WORKSPACE = SandboxConfig.inner_workspace
"""Where the workspace appears inside a default bubblewrap sandbox (``/workspace``)."""


@dataclass(frozen=True)
class SandboxPaths:
    """The episode's directories as the agent names them, and on the host.

    Attributes:
        workspace: The workspace as the agent names it (``/workspace`` under bubblewrap).
        control: The control directory as the agent names it (``/run/ptb``; read-only inside).
        model: The base model as the agent names it (``/opt/ptb/base_model``; read-only inside).
        host_workspace: The workspace on the host.
        host_control: The control directory on the host.
        host_model: The base model on the host.
        isolated: The agent has its own file system (bubblewrap): any absolute path it names
            is inside the sandbox. ``False`` (``sandbox="none"``): its paths are host paths,
            and :meth:`inner` keeps the tools in the workspace.

    Example:
        >>> p = SandboxPaths("/workspace", "/run/ptb", "/opt/ptb/base_model",
        ...                  Path("/h/ep"), Path("/h/ep.ctl"), Path("/models/m"), isolated=True)
        >>> p.inner("data/x.jsonl"), p.workspace_rel("/workspace/final_model"), p.workspace_rel("/tmp/x")
        ('/workspace/data/x.jsonl', 'final_model', None)
        >>> p.in_control("train_data", "1.jsonl")
        '/run/ptb/train_data/1.jsonl'
    """

    workspace: str
    control: str
    model: str
    host_workspace: Path
    host_control: Path
    host_model: Path
    isolated: bool

    @classmethod
    def of(cls, workspace: Workspace, kind: str, config: SandboxConfig) -> SandboxPaths:
        """The mapping of ``workspace`` in a sandbox of ``kind`` (``"bwrap"`` or ``"none"``)."""
        ws, ctl, model = workspace.root, workspace.control_dir, workspace.base_model_dir
        if kind == "bwrap":
            return cls(config.inner_workspace, CONTROL_MOUNT, MODEL_MOUNT, ws, ctl, model, isolated=True)
        return cls(str(ws), str(ctl), str(model), ws, ctl, model, isolated=False)

    def agent_view(self) -> dict[str, Path]:
        """``{inner path: host directory}`` of the workspace and the base model (``Workspace.agent_view``)."""
        return {self.workspace: self.host_workspace, self.model: self.host_model}

    def in_control(self, *parts: str) -> str:
        """The inner path of an entry of the control directory."""
        return posixpath.join(self.control, *parts)

    def _join(self, path: str) -> str:
        return path if posixpath.isabs(path) else posixpath.join(self.workspace, path)

    def inner(self, path: str, *, write: bool = False) -> str:
        """A path the agent named, absolute as the agent sees it (relative paths start at the workspace).

        Args:
            path: What the agent passed to a tool.
            write: The tool will write there (unsandboxed, the path must then also resolve
                into the workspace: no writing through ``base_model`` into the host's model).

        Raises:
            WorkspaceError: Unsandboxed, ``path`` leaves the workspace (the message, for the
                agent, names the workspace's real path).
        """
        joined = self._join(path)
        if self.isolated:
            return joined
        norm = posixpath.normpath(joined)
        if not _within(norm, self.workspace):
            raise WorkspaceError(self.outside(path))
        if write and not _within(os.path.realpath(norm), os.path.realpath(self.host_workspace)):
            raise WorkspaceError(
                f"{path!r} leads out of the workspace through a link (the base model, say): without "
                f"a sandbox the tools write only inside {self.workspace}."
            )
        return norm

    def workspace_rel(self, path: str) -> str | None:
        """``path`` relative to the workspace, or ``None`` when it names something outside it."""
        try:
            rel = Path(self._join(path)).relative_to(self.workspace)
        except ValueError:
            return None
        return None if ".." in rel.parts else str(rel)

    def outside(self, path: str) -> str:
        """Why ``path`` is refused as outside the workspace, for the agent."""
        if self.isolated:
            return f"{path!r} is outside the workspace ({self.workspace})."
        hint = ""
        if _within(posixpath.normpath(self._join(path)), SANDBOXED_WORKSPACE):
            hint = f" There is no {SANDBOXED_WORKSPACE} here: the sandbox is off (sandbox='none')."
        return (
            f"{path!r} is outside the workspace ({self.workspace}).{hint} Without a sandbox the "
            "tools only touch the workspace: use a path relative to it."
        )


def _within(path: str, root: str | os.PathLike[str]) -> bool:
    root = os.fspath(root).rstrip("/") or "/"
    return path == root or path.startswith(root + "/")
