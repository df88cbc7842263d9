"""The agent's computer: one sandboxed bash per episode, a persistent shell on top.

A long-lived *driver* bash runs inside the sandbox and reads commands from a
pipe. Each shell call runs in a subshell of its own process group, so a
timeout kills that group and nothing else. The subshell saves its working
directory and exported variables when it exits and the driver loads them, so
``cd`` and ``export`` persist between calls (shell functions, aliases and
unexported variables do not). Background jobs (``ptb_env.sandbox.jobs``) are
further process groups of the same driver, in the same pid namespace.

Threat model of the session (the isolation itself is in ``bwrap``):

Covered:
- A call that outlives its timeout is killed with its process group; if the
  driver does not answer ``grace_s`` later, the whole sandbox is killed.
- A driver that dies (``kill -9 -1``, out of memory) is restarted at the next
  call, and the output says so (jobs are lost then: what the dead driver left is
  killed first, and every new shell starts in an emptied cgroup, as a bomb at the
  process limit would keep its successor from starting).
- Workspace disk: a watchdog thread sums the workspace's blocks every
  ``disk_check_interval_s``; when it exceeds the limit *and grew* since the
  last check, every process of the episode is killed and the next output says
  why. Deleting files is always possible.
- ``close()`` kills every process of the episode (bwrap process group, pid
  namespace via ``--die-with-parent``, cgroup) and waits until they are gone.
- Limits are in place before the agent's first command: the cgroup is joined
  before bwrap starts, and the driver lowers its hard rlimits (memory,
  processes, file size, CPU seconds) before it reads any command, so every
  process of the episode inherits them.
- A fork bomb (the cgroup at its process limit, or refusing forks, in two of
  the watchdog's last four checks) kills every process of the episode; the next
  output says why.

Not covered:
- The disk watchdog may overshoot by what a process writes in one interval
  (a single file is capped by ``RLIMIT_FSIZE``).
- Processes that leave their process group (``setsid``) survive a call's
  timeout; they die with the episode.
- ``--die-with-parent`` acts when the *thread* that started the sandbox ends:
  start it from a long-lived thread.
- The driver runs inside the sandbox as the agent, so the agent can tamper with
  it (rewrite its state file, kill it): the shell protocol is a convenience,
  not a boundary. What bounds the agent is outside its reach (namespaces,
  cgroup, hard rlimits); a tampered driver at worst breaks the agent's own shell.
- ``cpu_time_s`` counts the driver's own CPU time too (small: a few ms per
  call); a driver that reaches it dies and is restarted at the next call.
- A control request (file tools, job logs) that outlives its timeout kills the
  sandbox and raises ``SandboxError``: callers bound their reads and writes
  (``timeout``) and refuse FIFOs and devices so that the agent cannot cause it.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import subprocess
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from ptb_env.errors import SandboxError, UnenforcedLimitWarning, UnsandboxedWarning
from ptb_env.safe_fs import CopyBudget, Tree, copy_tree
from ptb_env.sandbox import procs
from ptb_env.sandbox.bwrap import STATE_MOUNT, bwrap_argv, inner_mounts, sandbox_identity
from ptb_env.sandbox.cgroups import Cgroup, create_cgroup
from ptb_env.sandbox.config import SandboxConfig
from ptb_env.sandbox.driver import DRIVER_INIT, ShellResult, quote, sandbox_env
from ptb_env.sandbox.jobs import JobManager
from ptb_env.sandbox.output import OUTPUT_LIMIT, HeadTail
from ptb_env.sandbox.paths import SandboxPaths
from ptb_env.sandbox.seccomp import filter_fd
from ptb_env.workspace import Workspace

SandboxKind = Literal["bwrap", "none"]
CPU_KILL_GRACE_S = 5
"""CPU seconds between ``SIGXCPU`` (at ``SandboxConfig.cpu_time_s``) and ``SIGKILL``."""
WRITE_TIMEOUT_S = 30.0
"""Seconds a command may take to be written to the driver (which the agent can stop) at most."""
BOMB_WINDOW = 4
"""Checks of the process watchdog (``disk_check_interval_s`` apart) among which two at the
process limit kill a fork bomb."""


class Sandbox:
    """An episode's sandboxed computer: persistent shell plus background jobs.

    Args:
        workspace: The episode's workspace.
        config: Limits and isolation settings.
        kind: ``"bwrap"`` (isolated) or ``"none"`` (runs on the host; warns).
        time_left: Seconds left in the budget; bounds every timeout.
        default_timeout: Timeout of a call that names none.
        output_limit: Characters of output returned per call.
    """

    def __init__(
        self,
        workspace: Workspace,
        config: SandboxConfig | None = None,
        *,
        kind: SandboxKind = "bwrap",
        time_left: Callable[[], float] | None = None,
        default_timeout: float = 600.0,
        output_limit: int = OUTPUT_LIMIT,
    ) -> None:
        if kind not in ("bwrap", "none"):
            raise ValueError(f'Expect sandbox kind "bwrap" or "none", actually: {kind!r}')
        self.workspace, self.config, self.kind = workspace, config or SandboxConfig(), kind
        self.time_left = time_left or (lambda: float("inf"))
        self.default_timeout, self.output_limit = default_timeout, output_limit
        self.id = secrets.token_hex(6)
        self.generation = 0
        self._launches = 0
        """Shells launched so far, counted before each launch (the process watchdog's epoch)."""
        self.paths = SandboxPaths.of(workspace, kind, self.config)
        """Where the workspace, control directory and base model are, inside and on the host."""
        self.identity = sandbox_identity(self.config.host_uid) if kind == "bwrap" else None
        """Who the agent is on the host (``None`` unsandboxed: the env's own user)."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._driver_pid: int | None = None
        self._cgroup: Cgroup | None = None
        self._pending = bytearray()
        self._last_result = ""
        self._lock = threading.RLock()
        self._death_reason: str | None = None
        self._restart_reason: str | None = None
        self._closed = False
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._oom_seen = 0
        self._cpus_warned = False
        self._cpu_tree = (0, 0.0, 0.0)
        """(generation, CPU seconds of the earlier trees, most seen of this one): ``cpu_seconds``."""
        if kind == "none":
            warnings.warn(
                'sandbox="none": the agent\'s commands run on the host without isolation; '
                "use it only for trusted local work.",
                UnsandboxedWarning,
                stacklevel=2,
            )
        self.jobs = JobManager(self)

    # -- lifecycle ----------------------------------------------------------

    @property
    def inner_workspace(self) -> str:
        """The workspace as the agent sees it (``paths.workspace``)."""
        return self.paths.workspace

    @property
    def alive(self) -> bool:
        """Whether the driver is running."""
        return self._proc is not None and self._proc.poll() is None and self._driver_ok()

    def start(self) -> None:
        """Start the sandbox (done by the first call if not before).

        Raises:
            SandboxUnavailable: bwrap is missing or cannot run here.
            SandboxError: The sandbox did not come up.
        """
        with self._lock:
            if self._closed:
                raise SandboxError("This sandbox is closed; make a new one.")
            if self._proc is not None:
                return
            cfg = self.config
            env = sandbox_env(cfg, self.paths.workspace, self.paths.control, self.id)
            cmd = ["bash", "--noprofile", "--norc"]
            limit_procs = self.kind == "bwrap"
            if self.generation == 0:
                self._hand_over()
            seccomp = filter_fd() if self.kind == "bwrap" else None
            if self.kind == "bwrap":
                argv = bwrap_argv(self.workspace, cfg, cmd, identity=self.identity, seccomp_fd=seccomp)
                if cfg.use_cgroups and self._cgroup is None:
                    mem = cfg.memory_mb << 20 if cfg.memory_mb else None
                    self._cgroup = create_cgroup(f"ptb-{self.id}", mem, cfg.max_procs, cfg.cpus)
                elif self._cgroup is not None:
                    # a restart: the new shell starts in an empty cgroup, whatever path killed the
                    # old one (what is still dying there would keep it from forking, or set off the
                    # process watchdog against it)
                    self._cgroup.kill_all()
                self._warn_unenforced_cpus()
                if self._cgroup is not None:
                    files = [str(f) for f in self._cgroup.procs_files]
                    join = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'
                    argv = ["/bin/sh", "-c", join, "sh", *files, "--", *argv]
            else:
                argv = cmd
            self._launches += 1  # the process watchdog starts afresh for this shell
            try:
                self._proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env=env, cwd=str(self.workspace.root), start_new_session=True, bufsize=0,
                    pass_fds=() if seccomp is None else (seccomp,),
                )  # fmt: skip
            finally:
                if seccomp is not None:
                    os.close(seccomp)
            os.set_blocking(self._proc.stdout.fileno(), False)  # type: ignore[union-attr]
            self._pending.clear()
            self._death_reason = None
            state = f"{STATE_MOUNT}/state" if self.kind == "bwrap" else self._host_state_file()
            init = f"__ptb_sf={quote(state)}\n" + DRIVER_INIT
            init += self._ulimits(limit_procs and self._cgroup is None)
            out, fields = self._exchange(init + "echo ready\n", time.monotonic() + 30)
            if fields is None or "ready" not in out:
                killed = f" [killed: {self._death_reason}]" if self._death_reason else ""
                hint = " ".join(argv[:3]) + " ...)" + killed
                self._kill_processes()
                self._reap()
                raise SandboxError(f"The sandbox did not start ({hint}: {out.strip()[-2000:]}")
            self._driver_pid = procs.find_descendant(self._proc.pid, "bash")
            self.generation += 1
            if self._watchdog is None or not self._watchdog.is_alive():
                self._watchdog = threading.Thread(target=self._watch_disk, daemon=True)
                self._watchdog.start()

    def _hand_over(self) -> None:
        """Before the agent's first command: give it the workspace, link the model's inner path.

        The workspace root becomes ``0700`` and, as every entry the env made in it, owned by
        the agent's host uid (nothing has run inside yet, so the walk cannot be raced).
        """
        ws = self.workspace
        ws.agent_view = self.paths.agent_view()
        link = ws.root / ws.layout.base_model
        if self.paths.isolated and link.is_symlink():
            link.unlink()
            os.symlink(self.paths.model, link, target_is_directory=True)
        identity = self.identity
        if identity is not None and identity.privileged:
            for dirpath, dirnames, filenames in os.walk(ws.root):
                for name in (*dirnames, *filenames):
                    os.lchown(os.path.join(dirpath, name), identity.uid, identity.gid)
            os.chown(ws.root, identity.uid, identity.gid)
        os.chmod(ws.root, 0o700)

    def _warn_unenforced_cpus(self) -> None:
        """Warn once when ``cpus`` is configured but no cgroup enforces it."""
        if self.config.cpus is None or self._cpus_warned:
            return
        if self._cgroup is None or self._cgroup.cpus is None:
            self._cpus_warned = True
            warnings.warn(
                f"SandboxConfig.cpus={self.config.cpus} is not enforced: no usable cgroup CPU "
                "controller here (cgroup v1 `cpu` hierarchy, or v2 with `cpu` delegated to this "
                "process's cgroup). The episode may use every CPU of the machine.",
                UnenforcedLimitWarning,
                stacklevel=3,
            )

    def _host_state_file(self) -> str:
        """Unsandboxed state file: in RAM where possible (ext4 syncs truncated files on close)."""
        shm = "/dev/shm"
        base = shm if os.access(shm, os.W_OK) else str(self.workspace.control_dir)
        return f"{base}/ptb-shell-{self.id}"

    def _ulimits(self, limit_memory_and_procs: bool) -> str:
        cfg, lines = self.config, ["ulimit -c 0"]
        if cfg.max_file_size_mb:
            lines.append(f"ulimit -f {cfg.max_file_size_mb * 1024}")
        if cfg.cpu_time_s:  # soft first (never above the hard one): SIGXCPU there, SIGKILL at the hard one
            lines.append(f"ulimit -S -t {cfg.cpu_time_s}; ulimit -H -t {cfg.cpu_time_s + CPU_KILL_GRACE_S}")
        if limit_memory_and_procs and cfg.memory_mb:
            lines.append(f"ulimit -v {cfg.memory_mb * 1024}")
        if limit_memory_and_procs and cfg.max_procs:
            lines.append(f"ulimit -u {cfg.max_procs}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Kill every process of the episode and wait until they are gone (idempotent).

        Returns within seconds even while another thread is inside a call: the kill
        (signals only) comes first and ends that call, then the lock is taken.
        """
        self._closed = True
        self._stop.set()
        self._kill_processes()
        with self._lock:
            self._kill_processes()
            self._reap()
            if self._cgroup is not None:
                self._cgroup.remove()
                self._cgroup = None
            if self.kind == "none":
                try:
                    os.unlink(self._host_state_file())
                except OSError:
                    pass

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None and not self._closed:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown: best effort
                pass

    @property
    def cpu_quota(self) -> float | None:
        """The CPU quota a cgroup enforces on the episode (CPUs), ``None`` when none does."""
        return self._cgroup.cpus if self._cgroup is not None else None

    def host_pids(self) -> set[int]:
        """Host pids of the episode's processes (for tests and monitoring)."""
        pids = self._cgroup.pids() if self._cgroup is not None else set()
        if self._proc is not None:
            pids |= procs.session_members(self._proc.pid) | procs.descendants(self._proc.pid)
        return pids

    def base_env(self) -> dict[str, str]:
        """The environment the agent's shell starts with (before anything it exports)."""
        return sandbox_env(self.config, self.paths.workspace, self.paths.control, self.id)

    def cpu_seconds(self) -> float:
        """CPU seconds the episode's processes have used so far, exited ones included.

        From the cgroup's CPU accounting where there is one (exact, whatever the processes do);
        else summed over the sandbox's process tree, sampled: what a tree used after its last
        sample and before it died (a killed or restarted sandbox) is not counted.
        """
        if self._cgroup is not None and (used := self._cgroup.cpu_seconds()) is not None:
            return used
        proc = self._proc
        tree = procs.tree_cpu_seconds(proc.pid) if proc is not None else 0.0
        if self.generation != self._cpu_tree[0]:  # a new tree: keep what the old one was seen to use
            self._cpu_tree = (self.generation, self._cpu_tree[1] + self._cpu_tree[2], 0.0)
        gen, before, seen = self._cpu_tree
        self._cpu_tree = (gen, before, max(seen, tree))
        return before + max(seen, tree)

    def job_cpu_seconds(self, job_pid: int) -> float | None:
        """CPU seconds of a job's process tree (``job_pid`` as the driver reports it, i.e. in the
        sandbox's pid namespace); ``None`` when no such process runs."""
        for pid in sorted(self.host_pids()):
            if procs.inner_pid(pid) == job_pid:
                return procs.tree_cpu_seconds(pid)
        return None

    def export_scratch(self, dest: Path, max_bytes: int) -> list[str]:
        """Copy the sandbox's private ``/tmp`` and ``/dev/shm`` to ``dest`` (for the contamination scan).

        Call it before :meth:`close` (they are tmpfs mounts that die with the sandbox). The copy
        is ``ptb_env.safe_fs``'s: safe while the agent's processes run; links that leave
        the folder, FIFOs and devices are skipped and listed.

        Returns:
            The skipped entries, ``"path: why"`` each (empty when everything was copied or
            there is no sandboxed scratch space).
        """
        skipped: list[str] = []
        pid = self._inner_pid()
        if pid is None:
            return skipped
        budget = CopyBudget(max_bytes)
        mounts = inner_mounts(self.config)
        for inner in ("/tmp", "/dev/shm"):
            tree = Tree(Path(f"/proc/{pid}/root{inner}"), (inner,))
            # what the sandbox mounted there from the host (a venv or clone in the host's /tmp) is
            # not the agent's: read-only, and gigabytes of it would crowd out the agent's files
            ours = [str(m.relative_to(inner)) for m in mounts if m.is_relative_to(inner) and m != Path(inner)]

            def skip(rel: str, why: str, where: str = inner) -> None:
                skipped.append(f"{where}/{rel}: {why}")

            try:
                out = dest / inner.strip("/").replace("/", "_")
                copy_tree(tree, ".", out, budget, on_skip=skip, exclude=ours)
            except OSError as err:
                skipped.append(f"{inner}: {err.strerror or err}")
        return skipped

    def _inner_pid(self) -> int | None:
        """A live process inside the sandbox's mount namespace (``None`` if none is left)."""
        if self.kind != "bwrap" or self._proc is None:
            return None
        try:
            ours = os.stat("/proc/self/ns/mnt").st_ino
        except OSError:
            return None
        for pid in (self._driver_pid, *sorted(procs.descendants(self._proc.pid))):
            try:
                if pid is not None and os.stat(f"/proc/{pid}/ns/mnt").st_ino != ours:
                    return pid
            except OSError:
                continue
        return None

    def _driver_ok(self) -> bool:
        pid = self._driver_pid
        return pid is None or (procs.is_running(pid) and not procs.is_stopped(pid))

    def kill_processes(self, reason: str) -> None:
        """Kill every process of the episode now (thread-safe); the next output says ``reason``.
        The shell restarts at the next call."""
        self._kill_processes(reason)

    def _kill_processes(self, reason: str | None = None) -> None:
        """SIGKILL everything of the episode (thread-safe: signals only)."""
        if reason and not self._death_reason:
            self._death_reason = reason
        proc = self._proc
        if proc is None:
            return
        members = self.host_pids()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        procs.kill_all(members)
        if self._cgroup is not None:
            self._cgroup.kill_all()
        procs.wait_gone(members, timeout=5.0)

    def _reap(self) -> None:
        proc, self._proc, self._driver_pid = self._proc, None, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _procs_saturated(self) -> bool:
        """Whether the episode sits at its process limit now."""
        cg, limit = self._cgroup, self.config.max_procs
        return cg is not None and limit is not None and cg.pids_current() >= limit - 2

    def _fork_refusals(self) -> int:
        return 0 if self._cgroup is None else self._cgroup.fork_refusals()

    def _kill_fork_bomb(self) -> None:
        self._kill_processes(
            f"process limit reached ({self.config.max_procs} processes and threads): every process was killed"
        )

    def _check_procs(self, hits: deque[bool], refused: int, launch: int) -> int:
        """Kill everything after two checks at the process limit within the last
        :data:`BOMB_WINDOW` checks (a fork bomb, typically): at the limit now, or forks refused
        since the last check. A bomb whose processes die and refork oscillates below the limit
        between checks, and one slowed by bash's ``fork: retry`` backoff hits it only every
        other check (seen on a busy single core), so two checks in a row are not required.
        ``hits`` holds the recent checks' outcomes, all of the shell ``launch``: if another shell
        was launched meanwhile, the kill is not its doing and does not happen. Returns the fork
        refusals counted so far."""
        now = self._fork_refusals()
        hits.append(self._procs_saturated() or now > refused)
        if hits[-1] and sum(hits) >= 2 and self._proc is not None and self._launches == launch:
            self._kill_fork_bomb()
            hits.clear()
            return self._fork_refusals()
        return now

    def _watch_disk(self) -> None:
        cfg, last = self.config, (0, 0)
        refused, hits = self._fork_refusals(), deque[bool](maxlen=BOMB_WINDOW)
        launch = self._launches
        limit = (cfg.workspace_disk_mb or 1 << 40) << 20
        while not self._stop.wait(cfg.disk_check_interval_s):
            if self._launches != launch:
                # a new shell (a restart after a kill): forks the old one's processes had refused
                # while they were being killed, and its hits, are not the new shell's. Counted,
                # they can kill the new shell as it starts (the likely cause of "The sandbox did
                # not start" with empty output after a fork bomb, CI at 7a1577f and 207878d).
                launch, refused = self._launches, self._fork_refusals()
                hits.clear()
            else:
                refused = self._check_procs(hits, refused, launch)
            used, files = self.workspace.disk_usage(max_files=cfg.workspace_max_files)
            over = used > limit or (cfg.workspace_max_files is not None and files > cfg.workspace_max_files)
            if over and (used > last[0] or files > last[1]) and self._proc is not None:
                self._kill_processes(
                    f"workspace disk limit exceeded ({used >> 20} MB in {files} entries; limit "
                    f"{cfg.workspace_disk_mb} MB, {cfg.workspace_max_files} entries): every process "
                    "was killed; delete files to continue"
                )
                # what the killed processes wrote between the check and the kill is not growth:
                # counting it would kill the next shell, the one meant to delete files
                used, files = self.workspace.disk_usage(max_files=cfg.workspace_max_files)
            last = (used, files)

    # -- the protocol -------------------------------------------------------

    def _exchange(self, script: str, deadline: float | None) -> tuple[str, list[str] | None]:
        """Send ``script`` and read until its end token; ``None`` fields: the driver died."""
        out, fields, _ = self._exchange_raw(script, deadline, keep=4 * self.output_limit)
        return out.text(10**9), fields

    def _exchange_raw(
        self, script: str, deadline: float | None, keep: int
    ) -> tuple[HeadTail, list[str] | None, bool]:
        """Send ``script`` and read its output until the end token.

        The agent can read and write the driver's pipes (same uid) and stop or kill it, so
        nothing here trusts it: writes are non-blocking and bounded by the deadline (or
        ``WRITE_TIMEOUT_S``), a stopped or dead driver ends the exchange, and an end line
        whose fields are not ``<exit code> <0|1> <result>`` counts as a broken shell (the
        result is what a driver function put in ``__ptb_res``, ``-`` for none: data for the
        host that no output of the agent's processes can shift or cut). ``None`` fields:
        the driver is gone or untrustworthy (``_death_reason`` says why).
        """
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        token = f"__PTB_END_{secrets.token_hex(8)}__"
        end = f'printf \'\\n%s %s %s %s\\n\' {token} "$__ptb_rc" "$__ptb_to" "${{__ptb_res:--}}"; __ptb_res='
        data = memoryview(f"{script}\n{end}\n".encode())
        buf, fd, btoken = HeadTail(keep), proc.stdout.fileno(), token.encode()
        out_fd = proc.stdin.fileno()
        os.set_blocking(out_fd, False)
        write_deadline = time.monotonic() + WRITE_TIMEOUT_S
        if deadline is not None:
            write_deadline = min(write_deadline, deadline + self.config.grace_s)
        signalled = False
        pending = self._pending
        while True:
            now = time.monotonic()
            if data and now >= write_deadline:
                self._kill_processes("the shell stopped reading its input")
                return buf, None, signalled
            if deadline is not None and now >= deadline and not data:
                if signalled or self._driver_pid is None:
                    self._kill_processes("the shell did not answer after a timeout")
                    return buf, None, True
                try:
                    os.kill(self._driver_pid, signal.SIGUSR1)
                except OSError:
                    pass
                signalled, deadline = True, now + self.config.grace_s
            limit = write_deadline if data else deadline
            wait = 0.25 if limit is None else max(0.0, min(0.25, limit - now))
            ready, writable, _ = select.select([fd], [out_fd] if data else [], [], wait)
            if writable:
                try:
                    data = data[os.write(out_fd, data[: 1 << 16]) :]
                except BlockingIOError:
                    pass
                except OSError:
                    self._death_reason = self._death_reason or "the shell closed its input"
                    return buf, None, signalled
            if not ready:
                if not writable and (proc.poll() is not None or not self._driver_ok()):
                    if self._driver_pid is not None and procs.is_stopped(self._driver_pid):
                        self._kill_processes("the shell was stopped (SIGSTOP)")
                    buf.feed(bytes(pending))
                    pending.clear()
                    return buf, None, signalled
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                buf.feed(bytes(pending))
                pending.clear()
                return buf, None, signalled
            pending += chunk
            i = pending.find(btoken)
            if i >= 0 and b"\n" in pending[i:]:
                line_end = pending.index(b"\n", i)
                fields = pending[i + len(btoken) : line_end].decode("ascii", "replace").split()
                start = i - 1 if i > 0 and pending[i - 1 : i] == b"\n" else i
                buf.feed(bytes(pending[:start]))
                del pending[: line_end + 1]
                if data or len(fields) != 3 or not fields[0].isdigit() or fields[1] not in ("0", "1"):
                    self._kill_processes("the shell's end-of-call line was forged or garbled")
                    return buf, None, signalled
                return buf, fields, signalled
            if i < 0 and len(pending) > 512:
                buf.feed(bytes(pending[:-256]))
                del pending[:-256]

    def control(self, script: str, timeout: float = 30.0) -> tuple[str, str]:
        """Like :meth:`request`; also returns what the script left in ``__ptb_res`` (``""``: nothing).

        Raises:
            SandboxError: The sandbox died or did not answer.
        """
        with self._lock:
            out = self.request(script, timeout)
            return out, self._last_result

    def request(self, script: str, timeout: float = 30.0) -> str:
        """Run driver-level ``script`` (no timeout kill of a process group) and return its output.

        Raises:
            SandboxError: The sandbox died or did not answer.
        """
        with self._lock:
            self.start()
            out, fields = self._exchange(script, time.monotonic() + timeout)
            self._last_result = "" if fields is None or fields[2] == "-" else fields[2]
            if fields is None:
                self._kill_processes("the shell died during a control request")
                self._reap()
                raise SandboxError(f"The sandbox died during a control request: {out[-500:]}")
            return out

    def run(self, command: str, timeout: float | None = None) -> ShellResult:
        """Run ``command`` in the persistent shell.

        Args:
            command: Bash code (may span lines); stdin is ``/dev/null``.
            timeout: Seconds; defaults to ``default_timeout``; never more than the budget left.

        Returns:
            The call's output and how it ended. Agent mistakes never raise.
        """
        with self._lock:
            notes: list[str] = []
            requested = self.default_timeout if timeout is None else timeout
            timeout = min(requested, self.time_left())
            if timeout <= 0:
                return ShellResult("", None, False, 0.0, ("budget exhausted: the command was not run",))
            if self._procs_saturated():
                time.sleep(0.05)
                if self._procs_saturated() and self._proc is not None:
                    self._kill_fork_bomb()
            if self._proc is not None and not self.alive:
                self._restart_reason = self._death_reason or "the shell died"
                # what the dead shell left (its jobs, a bomb at the process limit) would keep the
                # new one from starting
                self._kill_processes()
                self._reap()
            if self._restart_reason:
                notes.append(
                    f"shell restarted: {self._restart_reason}; cwd and variables were reset, "
                    "background jobs were lost"
                )
                self._restart_reason = None
            self.start()
            t0 = time.monotonic()
            script = f"__ptb_call {quote(command)}"
            buf, fields, signalled = self._exchange_raw(script, t0 + timeout, keep=4 * self.output_limit)
            duration = time.monotonic() - t0
            output = buf.text(self.output_limit)  # already head + tail with the cut marker
            oom = self._cgroup.oom_kills() if self._cgroup is not None else 0
            if oom > self._oom_seen:
                notes.append(f"out of memory: a process was killed (limit {self.config.memory_mb} MB)")
                self._oom_seen = oom
            if fields is None:
                reason = self._death_reason or "the shell died"
                notes.append(f"the sandbox was killed: {reason}; it restarts at the next call")
                self._kill_processes()
                self._reap()
                self._restart_reason = reason
                return ShellResult(output, None, signalled, duration, tuple(notes))
            rc, timed_out = int(fields[0]), fields[1] == "1" or signalled
            if timed_out and timeout < requested:
                notes.append("the timeout was cut to the budget left")
            return ShellResult(output, None if timed_out else rc, timed_out, duration, tuple(notes))
