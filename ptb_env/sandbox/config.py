"""Configuration of the agent's sandbox (limits, network, extra mounts, environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SandboxConfig:
    """What the sandbox allows. Defaults suit the tiny world on a small CPU machine.

    Attributes:
        network: Share the host network (a task may allow it); off by default.
        memory_mb: Memory of all the episode's processes together (cgroup), or of
            each process (``RLIMIT_AS``) where cgroups are not writable. ``None``: no limit.
        max_procs: Processes and threads of the episode (cgroup ``pids.max``; else
            ``RLIMIT_NPROC``, which the kernel does not enforce for host root).
        max_file_size_mb: Largest file a process may write (``RLIMIT_FSIZE``).
        cpu_time_s: CPU seconds each process may use (``RLIMIT_CPU``), a safety cap
            against runaway processes: at the limit a process gets ``SIGXCPU`` (the
            shell prints "CPU time limit exceeded"), 5 CPU seconds later ``SIGKILL``.
            The long-lived shell counts its own (small) CPU time too and is restarted
            if it reaches the cap. ``None``: no cap (the budget's wall clock bounds the episode).
        cpus: CPUs the episode's processes may use together, a cgroup quota
            (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``) over a 100 ms period; e.g. ``1.5``.
            Where no cgroup CPU controller can be used, the quota is not enforced and
            starting the sandbox warns (``UnenforcedLimitWarning``). It also sizes the
            agent's thread pools (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
            ``OPENBLAS_NUM_THREADS``, unless ``env`` sets them) to the quota. ``None``: no
            quota, and the pools are sized to the CPUs the env's process may use (its
            affinity and cgroup quota, ``ptb_env.cpus.available_cpus``), not the host's cores.
        workspace_disk_mb: Disk the workspace may use; a watchdog kills the
            episode's processes when it is exceeded and growing.
        workspace_max_files: Entries the workspace may hold (same watchdog).
        tmp_size_mb: Size of the private ``/tmp``, and of ``/dev/shm`` (each a tmpfs;
            they count as memory).
        disk_check_interval_s: Period of the disk watchdog.
        extra_ro_binds: More host paths to mount read-only at the same place.
        masked_paths: Host paths to make absent inside the sandbox, in addition to
            ``ptb_env.paths.private_paths()`` and the other workspaces (e.g. a score cache).
        env: Extra environment variables for the agent (name to value).
        pass_env: Names of host variables to pass through when set (e.g.
            ``CUDA_VISIBLE_DEVICES``); nothing else of the host environment enters.
        gpu: Bind the NVIDIA device nodes and ``/sys`` read-only.
        use_cgroups: Try cgroups for memory, processes and CPUs before falling back to rlimits.
        inner_workspace: Where the workspace appears inside the sandbox.
        grace_s: Extra seconds a timed-out call gets to die before the whole sandbox is restarted.
        host_uid: Host uid and gid the agent runs as when the env runs as root (never root
            itself); ``None``: a fresh uid per sandbox (``ptb_env.sandbox.bwrap.sandbox_identity``).
            Unprivileged envs always run the agent as their own uid.
    """

    network: bool = False
    memory_mb: int | None = 8192
    max_procs: int | None = 512
    max_file_size_mb: int | None = 8192
    cpu_time_s: int | None = None
    cpus: float | None = None
    workspace_disk_mb: int | None = 20_000
    workspace_max_files: int | None = 200_000
    tmp_size_mb: int = 1024
    disk_check_interval_s: float = 0.5
    extra_ro_binds: tuple[Path, ...] = ()
    masked_paths: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    pass_env: tuple[str, ...] = ()
    gpu: bool = False
    use_cgroups: bool = True
    inner_workspace: str = "/workspace"
    grace_s: float = 5.0
    host_uid: int | None = None

    def __post_init__(self) -> None:
        for name in ("memory_mb", "max_procs", "max_file_size_mb", "workspace_disk_mb", "cpu_time_s", "cpus"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Expect `{name}` to be positive or None, actually: {value}")
        if self.cpus is not None and not 0.01 <= self.cpus < float("inf"):
            raise ValueError(
                f"Expect `cpus` to be at least 0.01 (the kernel's 1 ms quota), actually: {self.cpus}"
            )
        if not self.inner_workspace.startswith("/") or self.inner_workspace in ("/", "/tmp"):
            raise ValueError(
                f"Expect `inner_workspace` to be an absolute path other than / and /tmp, "
                f"actually: {self.inner_workspace!r}"
            )
        object.__setattr__(self, "extra_ro_binds", tuple(Path(p) for p in self.extra_ro_binds))
        object.__setattr__(self, "masked_paths", tuple(Path(p) for p in self.masked_paths))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "pass_env", tuple(self.pass_env))
