"""Background jobs of an episode: start, status, log tail, kill, wait.

A job is a process group of the sandbox's driver shell (same pid namespace as
the shell, so a ``pkill`` in one episode cannot reach another episode). Its
output goes to ``.jobs/<id>.log`` in the workspace, which the agent may read
too. Logs are read *inside* the sandbox: host code never opens a path the
agent controls. Jobs die with the episode (``Sandbox.close``) and with a
sandbox restart (they are then reported as ``lost``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ptb_env.errors import JobNotFound, SandboxError
from ptb_env.sandbox.driver import quote
from ptb_env.sandbox.output import OUTPUT_LIMIT
from ptb_env.text import last_frames


class JobHost(Protocol):
    """What the jobs need of their sandbox (:class:`ptb_env.sandbox.session.Sandbox` is one).

    Jobs run through the sandbox's driver shell; naming only these members keeps this
    module below the session that owns the jobs.
    """

    generation: int
    """How many times the driver has started; a job of an earlier generation was lost."""
    time_left: Callable[[], float]
    """Seconds left in the episode's budget."""

    @property
    def inner_workspace(self) -> str:
        """The workspace as the agent sees it."""
        ...

    @property
    def alive(self) -> bool:
        """Whether the driver is running."""
        ...

    def start(self) -> None:
        """Start the driver if it is not running."""
        ...

    def request(self, script: str, timeout: float = ...) -> str:
        """Run a driver-level script and return its output."""
        ...

    def control(self, script: str, timeout: float = ...) -> tuple[str, str]:
        """Like :meth:`request`; also returns what the script left in ``__ptb_res``."""
        ...


_STATE = re.compile(r"(\d{1,9})=(running|exited:\d{1,3})")


def _states(result: str) -> dict[int, str]:
    """``{pid: "running" | "exited N"}`` from the driver's ``pid=state,...`` result."""
    return {int(p): state.replace(":", " ") for p, state in _STATE.findall(result)}


@dataclass
class Job:
    """One background job.

    Attributes:
        id: Job number, from 1.
        command: The command as given.
        log: Path of the log inside the sandbox.
        state: ``running``, ``exited``, ``killed`` or ``lost`` (sandbox restarted).
        exit_code: Exit status once finished (128 + signal when killed by one).
        started: ``time.monotonic()`` at start.
        ended: ``time.monotonic()`` when first seen finished.
    """

    id: int
    command: str
    log: str
    state: str = "running"
    exit_code: int | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    _pid: int = 0
    _generation: int = 0

    @property
    def done(self) -> bool:
        """Whether the job has finished one way or another."""
        return self.state != "running"

    def data(self) -> dict[str, Any]:
        """The job as data (:class:`ptb_env.tools.results.JobData`)."""
        return {
            "id": self.id,
            "state": self.state,
            "exit_code": self.exit_code,
            "log": self.log,
            "seconds": round((self.ended or time.monotonic()) - self.started, 3),
            "command": self.command,
        }

    def describe(self) -> str:
        """One line for the agent."""
        age = (self.ended or time.monotonic()) - self.started
        code = "" if self.exit_code is None else f" (exit code {self.exit_code})"
        where = f"after {age:.0f} s, log {self.log}"
        return f"job {self.id}: {self.state}{code} {where}: {command_line(self.command)}"


COMMAND_CHARS = 160
"""Characters of a job's command shown in its one-line description (the rest is marked as cut)."""


def command_line(command: str, chars: int = COMMAND_CHARS) -> str:
    """``command`` on one line, cut at ``chars`` with a marker that says how much was left out.

    >>> command_line("python train.py --lr 2e-3 --steps 100", 24)
    'python train.py --lr 2e- [... 13 more chars]'
    """
    line = command.replace("\n", "\\n")
    return line if len(line) <= chars else f"{line[:chars]} [... {len(line) - chars} more chars]"


class JobManager:
    """The jobs of one sandbox (``sandbox.jobs``)."""

    def __init__(self, sandbox: JobHost) -> None:
        self.sandbox = sandbox
        self._jobs: dict[int, Job] = {}

    def start(self, command: str, shown: str | None = None) -> Job:
        """Start ``command`` in the background, in the shell's current directory and environment.

        ``shown``: the command as the job lists it (default ``command``), e.g. without the
        environment a tool puts before its own command.
        """
        sb = self.sandbox
        sb.start()
        job_id = len(self._jobs) + 1
        log = f"{sb.inner_workspace}/.jobs/{job_id}.log"
        out, res = sb.control(f"mkdir -p {sb.inner_workspace}/.jobs; __ptb_job {quote(log)} {quote(command)}")
        if not res.isdigit():
            raise SandboxError(f"Could not start job: {out[-300:]!r}")
        pid = int(res)
        job = Job(job_id, command if shown is None else shown, log, _pid=pid, _generation=sb.generation)
        self._jobs[job_id] = job
        return job

    def get(self, job_id: int) -> Job:
        """The job with that id.

        Raises:
            JobNotFound: No such job; the message lists the known ids.
        """
        try:
            return self._jobs[int(job_id)]
        except (KeyError, ValueError):
            known = ", ".join(map(str, self._jobs)) or "none"
            raise JobNotFound(f"No job {job_id!r}; known jobs: {known}.") from None

    def status(self, job_id: int | None = None) -> list[Job]:
        """Refresh and return one job or all of them."""
        jobs = [self.get(job_id)] if job_id is not None else list(self._jobs.values())
        sb = self.sandbox
        running = [j for j in jobs if not j.done]
        for j in running:
            if j._generation != sb.generation or not sb.alive:
                j.state, j.ended = "lost", time.monotonic()
        live = [j for j in running if not j.done]
        if live:
            _, res = sb.control("__ptb_jstat " + " ".join(str(j._pid) for j in live))
            states = _states(res)
            for j in live:
                self._update(j, states.get(j._pid, ""))
        return jobs

    def _update(self, job: Job, state: str) -> None:
        parts = state.split()
        if parts[:1] == ["exited"]:
            code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            job.exit_code = None if code == 127 else code
            job.state = "killed" if code is not None and code > 128 else "exited"
            job.ended = job.ended or time.monotonic()

    def tail(self, job_id: int, chars: int = OUTPUT_LIMIT) -> str:
        """The end of a job's log (at most ``chars`` characters), each line at its last ``\\r``
        frame (a progress bar shows its state, not every redraw)."""
        job = self.get(job_id)
        log = quote(job.log)  # the agent may have replaced it with a FIFO: check, and bound the read
        out = self.sandbox.request(
            f"if [ -f {log} ]; then timeout -s KILL 5 tail -c {4 * chars} -- {log} 2>&1; "
            f"else echo {quote(f'({job.log} is not a regular file)')}; fi"
        )
        out = last_frames(out)
        return out[-chars:] if len(out) > chars else out

    def kill(self, job_id: int) -> Job:
        """Kill a job's whole process group."""
        job = self.status(job_id)[0]
        if not job.done:
            _, res = self.sandbox.control(f"__ptb_jkill {job._pid}")
            self._update(job, _states(res).get(job._pid, ""))
            job.state = "killed"
        return job

    def kill_all(self) -> None:
        """Kill every running job."""
        for job in self.status():
            if not job.done:
                self.kill(job.id)

    def wait(self, job_id: int | None = None, seconds: float | None = None) -> list[Job]:
        """Wait for a job to finish, or for ``seconds``; never past the budget.

        Args:
            job_id: The job to wait for; ``None`` waits ``seconds`` (all jobs reported).
            seconds: Upper bound on the wait (``None``: until the job ends or the budget does).

        Returns:
            The job waited for, or every job.
        """
        if job_id is None and seconds is None:
            raise ValueError("Expect a job id or a number of seconds to wait, actually neither.")
        limit = min(float("inf") if seconds is None else seconds, self.sandbox.time_left())
        deadline = time.monotonic() + max(0.0, limit)
        delay = 0.05
        while True:
            jobs = self.status(job_id)
            if (job_id is not None and jobs[0].done) or time.monotonic() >= deadline:
                return jobs
            if not self.sandbox.alive:  # closed under the wait (the episode ended): nothing can run
                return jobs
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 1.0)

    def render(self) -> str:
        """Every job, one line each (for the agent)."""
        jobs = self.status()
        return "\n".join(j.describe() for j in jobs) if jobs else "no jobs"


__all__ = ["Job", "JobHost", "JobManager", "JobNotFound"]
