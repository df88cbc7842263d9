"""Text read out of a hostile directory tree, for the checks that scan what an agent left.

Threat model: the agent controls every byte and name under the paths (its processes are
dead when grading reads them). Covered: no symlink is followed, at any depth (the tree is
walked without recursion, each directory and file opened relative to its parent's fd with
``O_NOFOLLOW``, and what was opened checked to be a directory or a regular file); FIFOs,
sockets and devices are never read; a file or directory reached twice (hard links, a path
given twice) is read once; reads stop at a byte cap per file and in all, the walk at a cap
on files and directories; every skip and cap is counted for the evidence. Not covered:
text the reader cannot see as text (compressed, encrypted or binary files, UTF-16 without
a BOM), and a tree deeper than the open-file limit (its depths count as unreadable).

JSON and Python string escapes are decoded (``\\n`` as a space, ``\\u00e9`` as ``é``), so
a JSON-encoded text reads as its text: lines that look like JSON are read decoded, other
lines with a backslash both raw and decoded (LaTeX's ``\\times`` must stay ``times``).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK_CHARS = 1 << 20
"""Characters handed out at a time (whole lines, unless a line is longer)."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")


@dataclass
class ReadLog:
    """What :func:`read_texts` read, skipped (by reason) and cut short."""

    files: int = 0
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    capped: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        return {
            "files_scanned": self.files,
            "files_skipped": dict(+self.skipped),  # + drops zero counts
            "bytes_scanned": self.bytes,
            "caps_hit": {
                "max_file_bytes": self.capped[:20],
                "max_total_bytes": self.skipped["over max_total_bytes"] > 0,
                "max_files": self.skipped["over max_files"] > 0,
            },
        }


def read_texts(
    paths: Sequence[Path],
    log: ReadLog,
    *,
    max_files: int,
    max_file_bytes: int,
    max_total_bytes: int,
    sniff_bytes: int,
    text_suffixes: tuple[str, ...],
) -> Iterator[tuple[str, Iterator[str]]]:
    """(path, text blocks) of each text file under ``paths``, in sorted order.

    A file is text when its first ``sniff_bytes`` hold no NUL byte, it starts with a
    UTF-16 BOM, or its name ends with one of ``text_suffixes``. Consume each file's blocks
    before asking for the next file.
    """
    for name, fd in _files(paths, max_files, log.skipped):
        limit = min(max_file_bytes, max_total_bytes - log.bytes)
        if limit <= 0:
            log.skipped["over max_total_bytes"] += 1
            continue
        head = os.read(fd, min(limit, max(sniff_bytes, 1 << 16)))
        bom = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        if b"\0" in head[:sniff_bytes] and not bom and not name.lower().endswith(text_suffixes):
            log.skipped["binary"] += 1
            continue
        yield name, _blocks(fd, head, limit, "utf-16" if bom else "utf-8")
        log.files += 1
        log.bytes += os.lseek(fd, 0, os.SEEK_CUR)
        if os.fstat(fd).st_size > limit:
            log.capped.append(name)


def _blocks(fd: int, head: bytes, limit: int, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    rest, used, chunk = "", 0, head
    while chunk:
        used += len(chunk)
        text = rest + decoder.decode(chunk)
        cut = text.rfind("\n") + 1 or (len(text) if len(text) > BLOCK_CHARS else 0)
        if cut:
            yield "\n".join(_decoded(text[:cut].split("\n")))
        rest = text[cut:]
        chunk = os.read(fd, min(BLOCK_CHARS, limit - used))
    yield "\n".join(_decoded([rest + decoder.decode(b"", final=True)]))


def _decoded(lines: list[str]) -> Iterator[str]:
    for line in lines:
        if "\\" not in line:
            yield line
        elif line.lstrip()[:1] in ("{", "[", '"'):
            yield unescape(line)
        else:
            yield line
            yield unescape(line)


def unescape(text: str) -> str:
    r"""JSON / Python string escapes decoded; whitespace escapes and escaped backslashes as spaces.

    >>> unescape(r'{"q": "caf\u00e9?\nYes \\o/"}')
    '{"q": "café? Yes  o/"}'
    """
    if "\\u" in text:  # a surrogate half (an emoji) becomes a space, as the emoji would
        text = _UNICODE_ESCAPE.sub(
            lambda m: chr(c) if not 0xD800 <= (c := int(m[1], 16)) < 0xE000 else " ", text
        )
    return text.replace("\\\\", " ").replace("\\n", " ").replace("\\t", " ").replace("\\r", " ")


def _files(
    paths: Sequence[Path], max_files: int, skipped: Counter[str]
) -> Generator[tuple[str, int], None, None]:
    """(path, fd) of the regular files under ``paths``, each once, in sorted order.

    Directories are walked without recursion, each opened relative to its parent's fd with
    ``O_NOFOLLOW``: no link is followed at any depth, and depth is bounded by open fds only.
    Directories count towards ``max_files`` too (a tree of empty directories ends as well).
    """
    seen: set[tuple[int, int]] = set()
    for top in map(os.fspath, paths):
        if not stat.S_ISDIR(_lmode(top, None)):
            if (yield from _open([top], "", None, seen, max_files, skipped)):
                return
            continue
        stack: list[tuple[str, int, Iterator[str]]] = []  # (path, fd, subdirectories left)
        entry: tuple[str, str, int | None] | None = (top, top, None)  # (path, name, parent fd)
        try:
            while entry or stack:
                if entry and len(seen) >= max_files:
                    skipped["over max_files"] += 1
                    return
                if entry and (listed := _list(*entry, seen, skipped)):
                    fd, dirs, files = listed
                    stack.append((entry[0], fd, iter(dirs)))
                    if (yield from _open(files, entry[0], fd, seen, max_files, skipped)):
                        return
                if not stack:
                    break
                path, fd, subdirs = stack[-1]
                sub = next(subdirs, None)
                entry = None if sub is None else (os.path.join(path, sub), sub, fd)
                if sub is None:
                    os.close(stack.pop()[1])
        finally:
            for _, fd, _ in stack:
                os.close(fd)


def _list(
    path: str, name: str, parent: int | None, seen: set[tuple[int, int]], skipped: Counter[str]
) -> tuple[int, list[str], list[str]] | None:
    """(fd, subdirectories, files) of a directory not seen before, opened without following links."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError:
        skipped["unreadable"] += 1
        return None
    try:
        st = os.fstat(fd)
        with os.scandir(fd) as it:
            kinds = {e.name: _kind(e) for e in it}
    except OSError:
        skipped["unreadable"] += 1
        kinds = None
    if kinds is None or (st.st_dev, st.st_ino) in seen:
        os.close(fd)
        return None
    seen.add((st.st_dev, st.st_ino))
    skipped.update(k for k in kinds.values() if k in ("link", "not a regular file"))
    return (
        fd,
        sorted(n for n, k in kinds.items() if k == "dir"),
        sorted(n for n, k in kinds.items() if k == "file"),
    )


def _open(
    names: list[str],
    root: str,
    dfd: int | None,
    seen: set[tuple[int, int]],
    max_files: int,
    skipped: Counter[str],
) -> Generator[tuple[str, int], None, bool]:
    """(path, fd) of each regular file among ``names``; returns True once ``max_files`` is hit."""
    for name in names:
        if len(seen) >= max_files:
            skipped["over max_files"] += 1
            return True
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dfd)
        except OSError:  # a link (O_NOFOLLOW), or gone
            skipped["link" if stat.S_ISLNK(_lmode(name, dfd)) else "unreadable"] += 1
            continue
        try:  # the file opened is a regular file (a FIFO opened non-blocking is not read)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                skipped["not a regular file"] += 1
            elif (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                yield os.path.join(root, name), fd
        finally:
            os.close(fd)
    return False


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "not a regular file"


def _lmode(name: str, dfd: int | None) -> int:
    """The mode of ``name`` itself (a link is a link); 0 when it cannot be read."""
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
    except OSError:
        return 0
