"""Race-free host-side access to trees an adversary controls (the agent's workspace).

Threat model. The agent's processes keep running while the host reads its workspace
(a ``train`` snapshot, a dev ``evaluate``), and they may swap any directory for a
symlink at any moment (``renameat2(RENAME_EXCHANGE)`` in a loop). A path checked and
then opened by name can therefore lead anywhere the host can read.

Covered:
- The kernel never follows a link here: every component is opened relative to the
  descriptor of its parent with ``O_PATH | O_NOFOLLOW``; a swap after an ``openat``
  does not matter, the descriptor keeps the inode it got. Symlinks are read
  (``readlinkat``) and resolved *textually*, again component by component, within the
  tree's root or one of its aliases (the inner paths the agent sees, e.g.
  ``/workspace`` and the base model's mount), at most ``MAX_LINKS`` hops; ``..`` never
  climbs above the root it started from. Anything else is refused.
- Only regular files are opened for reading, and only after ``fstat`` of the
  pinned inode says so (a FIFO or device is never opened for reading).
- Copies count the bytes actually read (not ``st_size``, which the agent can change
  mid-copy), keep holes as holes (``SEEK_DATA``/``SEEK_HOLE``) and stop at a cap.
- Walks are iterative (any depth) and bounded in depth and entries.

Not covered: the content read is whatever the file holds at that instant (the agent
may change it while it is copied); callers that need a stable view stop the agent's
processes first (grading does).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_LINKS = 40
"""Symlinks followed (textually) while resolving one path, as the kernel's limit."""
MAX_DEPTH = 64
"""Directory levels a tree copy descends."""
MAX_ENTRIES = 100_000
"""Entries a tree copy visits."""
_CHUNK = 1 << 20


class UnsafePathError(OSError):
    """A path that leaves its tree, loops, or names something that is not a plain file or directory."""


@dataclass(frozen=True)
class Tree:
    """A directory the agent controls, plus trusted aliases its symlinks may point into.

    Attributes:
        root: Host path of the tree (the descriptor of this directory is the anchor).
        inner: Absolute paths that mean ``root`` to the agent (e.g. ``/workspace``).
        aliases: ``{inner path: host directory}`` that links may lead to (read-only,
            trusted trees such as the base model), mapped the same way.
    """

    root: Path
    inner: tuple[str, ...] = ()
    aliases: Mapping[str, Path] | None = None

    def _bases(self) -> list[tuple[PurePosixPath, Path]]:
        bases = [(PurePosixPath(p), self.root) for p in (*self.inner, str(self.root))]
        for inner, host in (self.aliases or {}).items():
            bases += [(PurePosixPath(inner), Path(host)), (PurePosixPath(str(host)), Path(host))]
        return sorted(bases, key=lambda b: -len(b[0].parts))

    def _anchor(self, path: PurePosixPath) -> tuple[Path, list[str]]:
        """The directory an absolute path starts from (the root or an alias), and the parts after it."""
        for inner, host in self._bases():
            if path == inner or path.is_relative_to(inner):
                return host, list(path.relative_to(inner).parts)
        raise UnsafePathError(errno.EXDEV, f"{_show(str(path))} leaves the workspace")

    def _open_trusted(self, host: Path, parts: list[str], path: str) -> int:
        """Open inside a trusted alias (its own links followed); the agent's ``..`` may not leave it."""
        if ".." in parts:
            raise UnsafePathError(errno.EXDEV, f"{_show(path)} leaves the workspace")
        return os.open(os.path.join(host, *parts), os.O_PATH | os.O_CLOEXEC)

    def open(self, path: str) -> int:
        """An ``O_PATH`` descriptor of what ``path`` names, resolved without following links.

        Args:
            path: Relative to the root, or absolute in the agent's view (``inner``/aliases).

        Raises:
            UnsafePathError: The path leaves the tree, loops, or is too long.
            FileNotFoundError, NotADirectoryError: As the kernel says.
        """
        p = PurePosixPath(path)
        base, parts = self._anchor(p) if p.is_absolute() else (self.root, list(p.parts))
        if base != self.root:
            return self._open_trusted(base, parts, path)
        fds = [os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
        hops = 0
        try:
            while parts:
                part = parts.pop(0)
                if part in ("", "."):
                    continue
                if part == "..":
                    if len(fds) == 1:
                        raise UnsafePathError(errno.EXDEV, f"{_show(path)} leaves the workspace")
                    os.close(fds.pop())
                    continue
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1])
                mode = os.fstat(fd).st_mode
                if stat.S_ISLNK(mode):
                    try:
                        target = os.readlink(part, dir_fd=fds[-1])
                    finally:
                        os.close(fd)
                    hops += 1
                    if hops > MAX_LINKS:
                        raise UnsafePathError(
                            errno.ELOOP, f"{_show(path)}: too many levels of symlinks (a symlink loop)"
                        )
                    t = PurePosixPath(target)
                    if t.is_absolute():
                        anchor, rest = self._anchor(t)
                        if anchor != self.root:
                            return self._open_trusted(anchor, rest + parts, path)
                        for f in fds:
                            os.close(f)
                        fds = [os.open(anchor, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
                        parts = rest + parts
                    else:
                        parts = list(t.parts) + parts
                elif stat.S_ISDIR(mode):
                    fds.append(fd)
                elif parts and any(x not in ("", ".") for x in parts):
                    os.close(fd)
                    raise NotADirectoryError(errno.ENOTDIR, f"{_show(path)}: {part!r} is not a directory")
                else:
                    fds.append(fd)
                    break
            return fds.pop()
        finally:
            for f in fds:
                os.close(f)


def _show(path: str) -> str:
    """A path for a message: quoted, with undecodable bytes escaped."""
    return repr(path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def reopen(fd: int, flags: int = os.O_RDONLY) -> int:
    """A new descriptor of the inode behind an ``O_PATH`` descriptor (no path is resolved)."""
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC | os.O_NONBLOCK)


@dataclass
class CopyBudget:
    """Bytes a copy may still write (data actually read, holes excluded) and entries it may visit."""

    bytes_left: float = float("inf")
    entries_left: int = MAX_ENTRIES
    copied: int = 0

    def charge(self, n: int) -> None:
        self.bytes_left -= n
        self.copied += n
        if self.bytes_left < 0:
            raise UnsafePathError(errno.EFBIG, "the tree is larger than the copy limit")


def copy_file(fd: int, dest: Path, budget: CopyBudget, max_size: float = float("inf")) -> None:
    """Copy the regular file behind ``fd`` (any kind of descriptor) to ``dest``, holes kept.

    Raises:
        UnsafePathError: Not a regular file, apparent size over ``max_size``, or over the budget.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(errno.EINVAL, "not a regular file")
    if st.st_size > max_size:
        raise UnsafePathError(errno.EFBIG, f"the file's size ({st.st_size} bytes) is over the limit")
    src = reopen(fd)
    try:
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            size = _copy_extents(src, out, budget, max_size)
            os.ftruncate(out, size)
        finally:
            os.close(out)
    finally:
        os.close(src)


def _copy_extents(src: int, out: int, budget: CopyBudget, max_size: float) -> int:
    """Copy the data extents of ``src``; returns the size reached (holes are not written)."""
    pos = 0
    while True:
        try:
            start = os.lseek(src, pos, os.SEEK_DATA)
            end: float = os.lseek(src, start, os.SEEK_HOLE)  # inf below: no SEEK_HOLE, read to EOF
        except OSError as err:
            if err.errno == errno.ENXIO:  # no data after pos: the rest is a hole (or the end)
                return max(pos, os.fstat(src).st_size) if pos else os.fstat(src).st_size
            if err.errno != errno.EINVAL:  # EINVAL: no SEEK_DATA here, copy it all
                raise
            start, end = pos, float("inf")
        os.lseek(src, start, os.SEEK_SET)
        os.lseek(out, start, os.SEEK_SET)
        pos = start
        while pos < end:
            chunk = os.read(src, int(min(_CHUNK, end - pos)))
            if not chunk:
                return pos
            budget.charge(len(chunk))
            if pos + len(chunk) > max_size:
                raise UnsafePathError(errno.EFBIG, "the file grew over the size limit while copied")
            os.write(out, chunk)
            pos += len(chunk)


def copy_tree(
    tree: Tree,
    path: str,
    dest: Path,
    budget: CopyBudget,
    *,
    max_file_size: float = float("inf"),
    on_skip: Callable[[str, str], None] | None = None,
    exclude: Collection[str] = (),
) -> bool:
    """Copy what ``path`` names (a file or a directory tree) to ``dest``; returns whether it was a directory.

    Every entry is resolved with :meth:`Tree.open` (links textually, within the tree);
    a directory reached twice (a loop) or deeper than ``MAX_DEPTH`` is refused. Entries
    whose path (relative to the tree, normalised: ``a/b``) is in ``exclude`` are not copied
    (reported to ``on_skip``).

    Raises:
        UnsafePathError: An entry leaves the tree, is not a regular file or directory,
            repeats, or the copy exceeds ``budget``.
    """
    seen: set[tuple[int, int]] = set()
    stack = [(path, dest, 0)]
    is_dir = False
    excluded = {os.path.normpath(e) for e in exclude}
    while stack:
        rel, out, depth = stack.pop()
        if excluded and os.path.normpath(rel) in excluded:
            if on_skip is not None:
                on_skip(rel, "excluded (not the agent's: a host mount of the sandbox)")
            continue
        try:
            is_dir = _copy_entry(tree, rel, out, depth, budget, seen, stack, max_file_size) or is_dir
        except UnsafePathError as err:
            if on_skip is None or depth == 0 or err.errno == errno.EFBIG:
                raise
            on_skip(rel, err.strerror or str(err))
        except OSError as err:
            if on_skip is None or depth == 0:
                raise
            on_skip(rel, os.strerror(err.errno or 0))
    return is_dir


def _copy_entry(
    tree: Tree,
    rel: str,
    out: Path,
    depth: int,
    budget: CopyBudget,
    seen: set[tuple[int, int]],
    stack: list[tuple[str, Path, int]],
    max_file_size: float,
) -> bool:
    """Copy one entry (a file, or a directory whose entries go on ``stack``); returns whether ``rel``
    is the top directory."""
    fd = tree.open(rel)
    try:
        st = os.fstat(fd)
        budget.entries_left -= 1
        if budget.entries_left < 0:
            raise UnsafePathError(errno.EFBIG, "the tree has too many entries")
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                raise UnsafePathError(
                    errno.ELOOP, f"{_show(rel)} leads back to a directory already copied (a symlink loop)"
                )
            if depth >= MAX_DEPTH:
                raise UnsafePathError(errno.ELOOP, f"{_show(rel)} is nested deeper than {MAX_DEPTH} levels")
            seen.add((st.st_dev, st.st_ino))
            out.mkdir(parents=depth == 0, exist_ok=depth == 0)
            listing = reopen(fd, os.O_RDONLY | os.O_DIRECTORY)
            try:
                names = sorted(os.listdir(listing))
            finally:
                os.close(listing)
            base = rel.rstrip("/") or "."
            stack += [(f"{base}/{n}", out / n, depth + 1) for n in reversed(names)]
            return depth == 0
        elif stat.S_ISREG(st.st_mode):
            copy_file(fd, out, budget, max_file_size)
        else:
            raise UnsafePathError(errno.EINVAL, f"{_show(rel)} is not a regular file or directory")
    finally:
        os.close(fd)
    return False
