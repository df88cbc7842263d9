"""Who owns an episode's host resources, whether that process still lives, and closing at exit.

A workspace, its control directory and its cgroups belong to the process that
made them. That process is named by an :class:`Owner`: its pid plus its start
time (field 22 of ``/proc/<pid>/stat``), so a reused pid is told apart, plus the
boot id, host name and pid namespace, so that an owner this process cannot judge
(another machine sharing the workspace root, another container) is never taken
for dead. ``ptb_env.reclaim`` removes what dead owners left behind.

Objects passed to :func:`track` (envs, sandboxes) are closed when the
interpreter exits normally (``atexit``), in the process that tracked them only:
a forked child never closes its parent's episodes.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import weakref
from dataclasses import dataclass
from typing import Literal, Protocol

OWNER_SUFFIX = ".owner"
"""Suffix of the owner file beside a workspace: ``<root>/<episode_id>.owner``."""
_MAGIC = "ptb_env-owner 1"
_MAX_BYTES = 4096
_TAG = re.compile(r"\.o(\d+)-(\d+)-(\d+)$")

Liveness = Literal["alive", "dead", "unknown"]


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(_MAX_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and start time (clock ticks since boot) of ``pid``; ``None`` if there is none."""
    raw = _read(f"/proc/{pid}/stat")
    try:
        fields = raw[raw.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])
    except (ValueError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, ``None`` if there is no such process."""
    st = _stat(pid)
    return None if st is None else st[1]


def running(pid: int, start: int) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs.

    A zombie counts as gone (where pid 1 does not reap, as in many containers, one stays
    for good), unless other threads of it still run (its main thread ended first). Where
    ``/proc`` hides other users' processes (``hidepid``), a pid that exists counts as running.
    """
    st = _stat(pid)
    if st is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    if st[1] != start:
        return False
    if st[0] not in "ZX":
        return True
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _pid_ns() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


@dataclass(frozen=True)
class Owner:
    """A process, named so that pid reuse, reboots and foreign namespaces are detected.

    Attributes:
        pid: Process id (in ``pid_ns``).
        start: Start time in clock ticks since boot.
        boot_id: ``/proc/sys/kernel/random/boot_id`` when the owner was recorded.
        host: Host name.
        pid_ns: Inode of the owner's pid namespace.
    """

    pid: int
    start: int
    boot_id: str
    host: str
    pid_ns: int

    @classmethod
    def current(cls) -> Owner:
        """This process."""
        pid = os.getpid()
        cached = _CURRENT.get(pid)
        if cached is None:
            cached = cls(
                pid,
                start_time(pid) or 0,
                _read("/proc/sys/kernel/random/boot_id"),
                socket.gethostname(),
                _pid_ns(),
            )
            _CURRENT.clear()
            _CURRENT[pid] = cached
        return cached

    def liveness(self) -> Liveness:
        """``"dead"`` only when sure; ``"unknown"`` for owners on another host or pid namespace."""
        me = Owner.current()
        if self.host != me.host:
            return "unknown"
        if self.boot_id and me.boot_id and self.boot_id != me.boot_id:
            return "dead"  # rebooted since: every process of that boot is gone
        if self.pid_ns != me.pid_ns or not self.start:
            return "unknown"
        return "alive" if running(self.pid, self.start) else "dead"

    def to_text(self) -> str:
        """The owner file's contents."""
        fields = {"pid": self.pid, "start": self.start, "boot_id": self.boot_id}
        fields.update(host=self.host, pid_ns=self.pid_ns)
        return _MAGIC + "\n" + "".join(f"{k}={v}\n" for k, v in fields.items())

    @classmethod
    def from_text(cls, text: str) -> Owner | None:
        """Parse :meth:`to_text` output; ``None`` for anything else (a file being written, say)."""
        lines = text.splitlines()
        if not lines or lines[0] != _MAGIC:
            return None
        kv = dict(line.partition("=")[::2] for line in lines[1:])
        try:
            return cls(int(kv["pid"]), int(kv["start"]), kv["boot_id"], kv["host"], int(kv["pid_ns"]))
        except (KeyError, ValueError):
            return None

    def tag(self) -> str:
        """Suffix that names this owner in a cgroup's name (cgroupfs holds no other files)."""
        return f".o{self.pid}-{self.start}-{self.pid_ns}"

    @classmethod
    def from_tag(cls, name: str) -> Owner | None:
        """The owner a cgroup name ends with (same host and boot: cgroupfs lives in memory)."""
        m = _TAG.search(name)
        if m is None:
            return None
        me = cls.current()
        return cls(int(m[1]), int(m[2]), me.boot_id, me.host, int(m[3]))


_CURRENT: dict[int, Owner] = {}


def write_owner_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` naming this process as owner (``FileExistsError`` if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(Owner.current().to_text())


def read_owner_fd(fd: int) -> Owner | None:
    """The owner in an open owner file, ``None`` if it is not one (yet)."""
    data = os.pread(fd, _MAX_BYTES, 0)
    return Owner.from_text(data.decode("utf-8", "replace"))


class _Closeable(Protocol):
    def close(self) -> None: ...


_TRACKED: weakref.WeakSet[_Closeable] = weakref.WeakSet()
_TRACKED_BY = os.getpid()


def track(obj: _Closeable) -> None:
    """Close ``obj`` when the interpreter exits normally, unless it is gone or closed by then."""
    _TRACKED.add(obj)


def _forget_after_fork() -> None:
    global _TRACKED_BY
    _TRACKED.clear()
    _TRACKED_BY = os.getpid()


def close_tracked() -> None:
    """Close every tracked object still alive (the ``atexit`` hook; errors are swallowed)."""
    if os.getpid() != _TRACKED_BY:
        return
    for obj in list(_TRACKED):
        try:
            obj.close()
        except Exception:  # noqa: BLE001 - interpreter exit: best effort, the next start reclaims
            pass


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(close_tracked)
