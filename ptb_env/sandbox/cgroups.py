"""Per-episode cgroups: memory, process and CPU limits over all of an episode's processes.

Works where this process may create child cgroups: cgroup v1 (one hierarchy per
controller, e.g. as root in a VM) or cgroup v2 with ``memory`` and ``pids``
delegated to our cgroup. Elsewhere :func:`create_cgroup` returns ``None`` and
the sandbox falls back to rlimits, which bound each process rather than the
episode (the module docstring of ``ptb_env.sandbox.bwrap`` says what that loses).
The CPU quota is best effort on top: it needs the ``cpu`` controller (v1
hierarchy or v2 delegation); ``Cgroup.cpus`` says whether it was applied.

Every cgroup's name ends with its owner's tag (``ptb_env.owner.Owner.tag``), so
that ``ptb_env.reclaim`` can remove those whose creating process died.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ptb_env.owner import Owner

_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Cgroup:
    """The cgroup(s) of one episode.

    Attributes:
        dirs: One directory per hierarchy (v1: memory, pids and maybe cpu; v2: one).
        version: 1 or 2.
        cpus: The CPU quota applied (CPUs per period), ``None`` when none is.
    """

    dirs: list[Path]
    version: int
    cpus: float | None = None

    @property
    def procs_files(self) -> list[Path]:
        """Files to write a pid into to move that process into the cgroup(s)."""
        return [d / "cgroup.procs" for d in self.dirs]

    def pids(self) -> set[int]:
        """Host pids of the processes inside."""
        out: set[int] = set()
        for f in self.procs_files:
            try:
                out.update(int(x) for x in f.read_text().split())
            except OSError:
                pass
        return out

    def pids_current(self) -> int:
        """Processes and threads now in the cgroup (0 if unknown)."""
        for d in self.dirs:
            try:
                return int((d / "pids.current").read_text())
            except (OSError, ValueError):
                continue
        return 0

    def fork_refusals(self) -> int:
        """Forks and clones refused so far because the cgroup was at ``pids.max`` (0 if unknown)."""
        return self._stat("pids.events", "max") or 0

    def _stat(self, name: str, key: str) -> int | None:
        """The value of ``key`` in the first of the directories' ``name`` files (lines ``key value``;
        ``key`` ``""``: the file is the value), ``None`` where none has it."""
        for d in self.dirs:
            try:
                text = (d / name).read_text()
                if not key:
                    return int(text)
                for line in text.splitlines():
                    k, _, v = line.partition(" ")
                    if k == key:
                        return int(v)
            except (OSError, ValueError):
                continue
        return None

    def cpu_throttled(self) -> int:
        """Periods in which the CPU quota stopped the episode's processes (0 if unknown)."""
        return self._stat("cpu.stat", "nr_throttled") or 0

    def cpu_seconds(self) -> float | None:
        """CPU seconds every process that ever ran inside has used (``None``: not accounted)."""
        if (ns := self._stat("cpuacct.usage", "")) is not None:  # v1
            return ns / 1e9
        usec = self._stat("cpu.stat", "usage_usec")  # v2
        return None if usec is None else usec / 1e6

    def oom_kills(self) -> int:
        """Processes killed by the out-of-memory killer so far (best effort)."""
        for name in ("memory.events", "memory.oom_control"):
            if (n := self._stat(name, "oom_kill")) is not None:
                return n
        return 0

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process inside, until none is left or ``timeout`` passes."""
        if self.version == 2:
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and delete the cgroup directories (idempotent)."""
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _own_paths() -> dict[str, str]:
    """Controller (``""`` for v2) to this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _try_write(path: Path, value: str) -> None:
    """Write where the kernel offers the knob (swap accounting may be off)."""
    try:
        path.write_text(value)
    except OSError:
        pass


CPU_PERIOD_US = 100_000
"""Period of the CPU quota: ``cpus`` CPUs may run ``cpus * 100`` ms in every 100 ms."""


def _cpu_quota_us(cpus: float) -> int:
    return max(1000, round(cpus * CPU_PERIOD_US))


def _cpu_v1(own: dict[str, str], name: str, cpus: float, made: list[Path]) -> bool:
    """A v1 ``cpu`` cgroup with the quota; ``False`` where the controller is missing or refuses."""
    root = _ROOT / "cpu"
    if "cpu" not in own or not (root / "cpu.cfs_quota_us").exists():
        return False
    d = root / own["cpu"].lstrip("/") / name
    try:
        d.mkdir()
    except OSError:
        return False
    try:
        _write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(d / "cpu.cfs_quota_us", str(_cpu_quota_us(cpus)))
    except OSError:
        try:
            d.rmdir()
        except OSError:
            pass
        return False
    made.append(d)
    return True


def _cpuacct_v1(own: dict[str, str], name: str, made: list[Path]) -> None:
    """A v1 ``cpuacct`` cgroup (CPU time accounting for the compute budget), where there is one."""
    root = _ROOT / "cpuacct"
    if "cpuacct" not in own or not (root / "cpuacct.usage").exists():
        return
    d = root / own["cpuacct"].lstrip("/") / name
    try:
        d.mkdir()
    except OSError:
        return
    made.append(d)


def create_cgroup(
    name: str, memory_bytes: int | None, max_procs: int | None, cpus: float | None = None
) -> Cgroup | None:
    """Create the episode's cgroup(s) with the given limits, or ``None`` if we may not.

    Args:
        name: Directory name (unique per episode); this process's owner tag is appended, so
            the cgroup is reclaimed once this process dies: make it in the process that waits
            for what runs inside.
        memory_bytes: Memory limit (RAM plus swap where the kernel accounts it).
        max_procs: Limit on processes and threads.
        cpus: CPU quota (CPUs per period); applied only where the ``cpu``
            controller is usable (see ``Cgroup.cpus``), never a reason to fail.
    """
    own = _own_paths()
    made: list[Path] = []
    name += Owner.current().tag()
    try:
        if (_ROOT / "memory" / "memory.limit_in_bytes").exists() and "memory" in own:
            mem = _ROOT / "memory" / own["memory"].lstrip("/") / name
            pids = _ROOT / "pids" / own.get("pids", "/").lstrip("/") / name
            for d in (mem, pids):
                d.mkdir()
                made.append(d)
            if memory_bytes is not None:
                _write(mem / "memory.limit_in_bytes", str(memory_bytes))
                _try_write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
            if max_procs is not None:
                _write(pids / "pids.max", str(max_procs))
            applied = cpus is not None and _cpu_v1(own, name, cpus, made)
            if not any((d / "cpuacct.usage").exists() for d in made):
                _cpuacct_v1(own, name, made)
            return Cgroup(made, 1, cpus if applied else None)
        if (_ROOT / "cgroup.controllers").exists() and "" in own:
            base = _ROOT / own[""].lstrip("/")
            delegated = set((base / "cgroup.subtree_control").read_text().split())
            if not {"memory", "pids"} <= delegated:
                return None
            d = base / name
            d.mkdir()
            made.append(d)
            if memory_bytes is not None:
                _write(d / "memory.max", str(memory_bytes))
                _try_write(d / "memory.swap.max", "0")
            if max_procs is not None:
                _write(d / "pids.max", str(max_procs))
            applied = False
            if cpus is not None and "cpu" in delegated:
                try:
                    _write(d / "cpu.max", f"{_cpu_quota_us(cpus)} {CPU_PERIOD_US}")
                    applied = True
                except OSError:
                    pass
            return Cgroup(made, 2, cpus if applied else None)
    except OSError:
        for d in made:
            try:
                d.rmdir()
            except OSError:
                pass
    return None


def list_cgroups(prefix: str = "ptb-") -> dict[str, Cgroup]:
    """Cgroups named ``prefix...`` where :func:`create_cgroup` puts them, by name (any owner)."""
    own = _own_paths()
    parents: list[Path] = []
    version = 1
    if (_ROOT / "memory" / "memory.limit_in_bytes").exists() and "memory" in own:
        paths = {
            "memory": own["memory"],
            "pids": own.get("pids", "/"),
            "cpu": own.get("cpu"),
            "cpuacct": own.get("cpuacct"),
        }
        parents = [_ROOT / c / p.lstrip("/") for c, p in paths.items() if p is not None]
    elif (_ROOT / "cgroup.controllers").exists() and "" in own:
        parents, version = [_ROOT / own[""].lstrip("/")], 2
    found: dict[str, list[Path]] = {}
    for parent in parents:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for n in names:
            if n.startswith(prefix) and (parent / n).is_dir():
                found.setdefault(n, []).append(parent / n)
    return {n: Cgroup(dirs, version) for n, dirs in found.items()}
