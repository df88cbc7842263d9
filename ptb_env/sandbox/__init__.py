"""Isolation of the agent's computer: bubblewrap sandbox, persistent shell, background jobs.

Example:
    >>> from ptb_env.sandbox import SandboxConfig, make_sandbox  # doctest: +SKIP
    >>> sb = make_sandbox(workspace, kind="bwrap", config=SandboxConfig())  # doctest: +SKIP
    >>> sb.run("cd data && export X=1").exit_code  # doctest: +SKIP
    0
    >>> sb.run("pwd; echo $X").output  # doctest: +SKIP
    '/workspace/data\\n1\\n'
    >>> job = sb.jobs.start("python train.py")  # doctest: +SKIP
    >>> sb.close()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

from ptb_env.errors import SandboxError, SandboxUnavailable, UnenforcedLimitWarning, UnsandboxedWarning
from ptb_env.owner import track
from ptb_env.sandbox.bwrap import find_bwrap
from ptb_env.sandbox.config import SandboxConfig
from ptb_env.sandbox.execute import ExecResult, run_many, run_python
from ptb_env.sandbox.jobs import Job, JobManager, JobNotFound
from ptb_env.sandbox.output import OUTPUT_LIMIT, truncate_middle
from ptb_env.sandbox.paths import SandboxPaths
from ptb_env.sandbox.session import Sandbox, SandboxKind, ShellResult
from ptb_env.workspace import Workspace


def make_sandbox(
    workspace: Workspace,
    kind: SandboxKind = "bwrap",
    config: SandboxConfig | None = None,
    *,
    time_left: Callable[[], float] | None = None,
    default_timeout: float = 600.0,
    start: bool = True,
) -> Sandbox:
    """Build (and by default start) the sandboxed computer of an episode.

    Args:
        workspace: The episode's workspace.
        kind: ``"bwrap"`` (isolated; the default) or ``"none"`` (trusted local use; warns).
        config: Limits and isolation settings.
        time_left: Seconds left in the budget (e.g. ``budget.remaining_seconds``).
        default_timeout: Timeout of a shell call that names none.
        start: Start now, so a missing bubblewrap fails here rather than at the first call.

    Raises:
        SandboxUnavailable: ``kind="bwrap"`` and no working bubblewrap; says how to install it.
    """
    if kind == "bwrap":
        find_bwrap()
    sandbox = Sandbox(workspace, config, kind=kind, time_left=time_left, default_timeout=default_timeout)
    track(sandbox)  # closed at interpreter exit if still open
    if start:
        sandbox.start()
    return sandbox


__all__ = [
    "OUTPUT_LIMIT",
    "ExecResult",
    "Job",
    "JobManager",
    "JobNotFound",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxKind",
    "SandboxPaths",
    "SandboxUnavailable",
    "ShellResult",
    "UnenforcedLimitWarning",
    "UnsandboxedWarning",
    "find_bwrap",
    "make_sandbox",
    "run_many",
    "run_python",
    "truncate_middle",
]
