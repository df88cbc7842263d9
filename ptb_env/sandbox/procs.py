"""Host-side process bookkeeping through /proc (find, kill and await an episode's processes)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable


def _stat(pid: int) -> tuple[str, str, int, int] | None:
    """``(comm, state, ppid, session)`` of a process, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, fields[0], int(fields[1]), int(fields[3])


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children that it has reaped (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    try:
        return sum(int(x) for x in fields[11:15]) / _TICK  # utime stime cutime cstime
    except (ValueError, IndexError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it, live or reaped inside the tree."""
    return sum(cpu_seconds(p) for p in {pid, *descendants(pid)})


def inner_pid(pid: int) -> int | None:
    """The pid of host process ``pid`` in its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    st = _stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def is_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped by a signal or traced (state ``T`` or ``t``)."""
    st = _stat(pid)
    return st is not None and st[1] in ("T", "t")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` in the process tree."""
    out: set[int] = set()
    stack = [pid]
    while stack:
        for child in children(stack.pop()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def find_descendant(pid: int, comm: str, timeout: float = 5.0) -> int | None:
    """The first process named ``comm`` at or below ``pid`` (breadth first)."""
    deadline = time.monotonic() + timeout
    while True:
        queue = [pid]
        while queue:
            p = queue.pop(0)
            st = _stat(p)
            if st is not None and st[0] == comm:
                return p
            queue += children(p)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def session_members(sid: int) -> set[int]:
    """Processes whose session id is ``sid`` (those left behind by an unsandboxed shell)."""
    out: set[int] = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None and st[3] == sid:
                out.add(int(name))
    return out


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL each pid, ignoring those already gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_gone(pids: Iterable[int], timeout: float = 5.0) -> bool:
    """Wait until none of ``pids`` runs (zombies count as gone); ``False`` on timeout."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = {p for p in pending if is_running(p)}
        if not pending:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
