"""The CPUs this process may actually use, and thread-pool settings sized to them.

``os.cpu_count()`` counts the host's cores. A process may use fewer: its affinity mask
(``taskset``, a container's cpuset) and its cgroup's CPU quota (``cpu.max``, a container's
``--cpus``) both bound it. Thread pools sized past that oversubscribe the CPUs, and OpenMP's
default spin-waiting then makes each step many times slower; the agent's shell, its training
jobs, ``evaluate`` and grading all size their threads with :func:`available_cpus`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU quota (in CPUs) of this process's cgroup and its parents, ``None`` when unlimited.

    Reads cgroup v2's ``cpu.max`` along the path in ``/proc/self/cgroup`` (the smallest
    quota on the way up binds), or cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``.
    """
    quotas: list[float] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.strip("/")
        if controllers == "":  # v2
            d = root / rel if rel else root
            while True:
                quotas += _v2_quota(d / "cpu.max")
                if d == root or root not in d.parents:
                    break
                d = d.parent
        elif "cpu" in controllers.split(","):  # v1
            for mount in (root / "cpu,cpuacct", root / "cpu"):
                d = mount / rel if rel else mount
                if (d / "cpu.cfs_quota_us").exists() or (mount / "cpu.cfs_quota_us").exists():
                    quotas += _v1_quota(d if (d / "cpu.cfs_quota_us").exists() else mount)
                    break
    return min(quotas) if quotas else None


def _v2_quota(path: Path) -> list[float]:
    try:
        quota, period = path.read_text().split()[:2]
        return [] if quota == "max" else [int(quota) / int(period)]
    except (OSError, ValueError):
        return []


def _v1_quota(d: Path) -> list[float]:
    try:
        quota = int((d / "cpu.cfs_quota_us").read_text())
        period = int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return []
    return [quota / period] if quota > 0 and period > 0 else []


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, bounded by its cgroup's quota (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that size OpenMP/MKL/OpenBLAS pools to ``threads`` and make idle
    OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``), so a busy neighbour
    process slows a step down by its share of the CPUs, not many times over."""
    n = str(max(1, int(threads)))
    return {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "OMP_WAIT_POLICY": "PASSIVE",
    }


__all__ = ["available_cpus", "cgroup_cpu_quota", "thread_env"]
