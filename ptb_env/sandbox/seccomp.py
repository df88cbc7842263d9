"""A small seccomp filter for the agent: no new user namespaces.

When the env runs as root the sandbox has no user namespace of its own (bwrap builds
it as root, then ``setpriv`` drops to an unprivileged uid), so bwrap's
``--disable-userns`` is not available. This filter takes its place: ``unshare`` and
``clone`` with ``CLONE_NEWUSER`` fail with ``EPERM``, and ``clone3`` (whose flags a
classic BPF filter cannot read) fails with ``ENOSYS``, so libc falls back to
``clone``; other ABIs (ia32, x32) are refused whole. Every other system call is
allowed. It is a classic BPF program in the layout bwrap's ``--seccomp FD`` reads (an
array of ``struct sock_filter``).

Covered: x86-64 and AArch64; on any other architecture the filter is not built
(:func:`user_namespace_filter` returns ``None``) and nested user namespaces stay
possible (the kernel's own checks still apply).
"""

from __future__ import annotations

import errno
import os
import platform
import struct

_ARCHES = {
    # machine: (AUDIT_ARCH_*, unshare, clone, clone3)
    "x86_64": (0xC000003E, 272, 56, 435),
    "aarch64": (0xC00000B7, 97, 220, 435),
}
CLONE_NEWUSER = 0x10000000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_X32_BIT = 0x40000000
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data (args[0] low word: little endian)


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def user_namespace_filter(machine: str | None = None) -> bytes | None:
    """The compiled filter for this machine, or ``None`` where it has no syscall table here."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit, unshare, clone, clone3 = arch
    prog = [
        _ins(_LD_W_ABS, _OFF_ARCH),
        _ins(_JEQ_K, audit, 1, 0),
        _ins(_RET_K, _ERRNO | errno.ENOSYS),  # another ABI (ia32 on x86-64): refused whole
        _ins(_LD_W_ABS, _OFF_NR),
        _ins(_JGE_K, _X32_BIT, 0, 1),
        _ins(_RET_K, _ERRNO | errno.ENOSYS),  # the x32 ABI (same arch, numbers offset): refused
        _ins(_JEQ_K, clone3, 0, 1),
        _ins(_RET_K, _ERRNO | errno.ENOSYS),
        _ins(_JEQ_K, unshare, 1, 0),
        _ins(_JEQ_K, clone, 0, 3),
        _ins(_LD_W_ABS, _OFF_ARG0),
        _ins(_JSET_K, CLONE_NEWUSER, 0, 1),
        _ins(_RET_K, _ERRNO | errno.EPERM),
        _ins(_RET_K, _ALLOW),
    ]
    return b"".join(prog)


def filter_fd(machine: str | None = None) -> int | None:
    """A readable descriptor holding the filter (for ``bwrap --seccomp FD``), or ``None``."""
    prog = user_namespace_filter(machine)
    if prog is None:
        return None
    fd = os.memfd_create("ptb-seccomp", os.MFD_CLOEXEC)
    os.write(fd, prog)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
