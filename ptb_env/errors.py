"""Typed errors of ptb_env; each message says what went wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PtbEnvError(Exception):
    """Base class of every error raised by ptb_env."""


class BenchmarkNotFound(PtbEnvError, KeyError):
    """A benchmark name that is not registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = difflib.get_close_matches(name, known, n=1)
        msg = f"Unknown benchmark {name!r}."
        if hint:
            msg += f" Did you mean: {hint[0]!r}?"
        msg += f" Registered benchmarks: {', '.join(known)}."
        super().__init__(msg)
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


class SplitNotAvailable(PtbEnvError, ValueError):
    """A split that a benchmark does not have, or that is hidden from this process."""


class CheckpointError(PtbEnvError):
    """A model directory that cannot be loaded as a valid checkpoint."""


class GraderError(PtbEnvError):
    """A failure of the evaluation machinery itself (infrastructure error, never a score)."""


class WorkspaceError(PtbEnvError):
    """A workspace that cannot be created, or a path that would leave it."""


class SandboxError(PtbEnvError):
    """The sandbox machinery failed (an infrastructure error, never the agent's fault)."""


class SandboxUnavailable(SandboxError):
    """No working bubblewrap on this machine; the message says how to install one."""


class JobNotFound(SandboxError, KeyError):
    """A job id that this episode never started (an agent mistake: report it)."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnsandboxedWarning(UserWarning):
    """Commands run on the host without isolation (``sandbox="none"``)."""


class UnenforcedLimitWarning(UserWarning):
    """A configured sandbox limit that this machine cannot enforce (e.g. ``cpus`` without cgroups)."""


class TaskNotFound(PtbEnvError, KeyError):
    """A task id that is not registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = difflib.get_close_matches(name, known, n=1)
        msg = f"Unknown task {name!r}."
        if hint:
            msg += f" Did you mean: {hint[0]!r}?"
        msg += f" Registered tasks: {', '.join(known)}."
        super().__init__(msg)
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


class AgentNotFound(PtbEnvError, KeyError):
    """An agent name that is not registered (``ptb_env.registry``)."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = difflib.get_close_matches(name, known, n=1)
        msg = f"Unknown agent {name!r}."
        if hint:
            msg += f" Did you mean: {hint[0]!r}?"
        msg += f" Registered agents: {', '.join(known) or 'none'}."
        if not hint:
            msg += " Register one with ptb_env.registry.register_agent or a `ptb_env.agents` entry point."
        super().__init__(msg)
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


class EpisodeNotRunning(PtbEnvError, RuntimeError):
    """``step`` before ``reset`` or after the episode ended."""


class CheckpointViolation(CheckpointError):
    """A checkpoint that breaks the rules (pickle weights, remote code, links out of the workspace).

    Unlike a merely broken checkpoint (graded as the base model), it disqualifies the episode.
    """


class ModelNotAvailable(PtbEnvError):
    """A task's base model that is neither a local directory nor reachable on the hub (or its cache)."""


class VLLMUnavailable(PtbEnvError, ImportError):
    """vLLM is not installed; the message names the install command."""


class VLLMEngineError(PtbEnvError, RuntimeError):
    """The vLLM child failed: while starting the engine, while generating, or it ran out of time.

    Attributes:
        phase: ``"startup"`` (before the engine was ready) or ``"generate"`` (after).
        max_tokens: the token limit of the attempt.
        log_tail: the last lines of the child's stdout and stderr.
    """

    def __init__(self, message: str, *, phase: str, max_tokens: int, log_tail: str = "") -> None:
        super().__init__(message)
        self.phase = phase
        self.max_tokens = max_tokens
        self.log_tail = log_tail


class JailError(PtbEnvError):
    """A jailed evaluation of a checkpoint (``ptb_env.inference.jail``) that did not finish.

    Attributes:
        kind: ``"memory"`` or ``"timeout"`` (the child exceeded its limit), ``"crash"`` (it
            failed otherwise), ``"infra"`` (the jail's own machinery failed).
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
