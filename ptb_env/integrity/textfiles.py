"""Text read out of a hostile directory tree, for the checks that scan what an agent left.

Threat model: the agent controls every byte and name under the paths (its processes are
dead when grading reads them). Covered: no symlink is followed, at any depth (the tree is
walked without recursion, each directory and file opened relative to its parent's fd with
``O_NOFOLLOW``, and what was opened checked to be a directory or a regular file); FIFOs,
sockets and devices are never read; a file or directory reached twice (hard links, a path
given twice) is read once, and so is a file whose content equals one read in full before
(a copy); the holes of sparse files are skipped, not read.

Binary bytes are not text: NUL bytes and the other C0 controls (all but tab, line breaks,
form feed and escape) and DEL are dropped before decoding and never count as text bytes,
so NUL padding neither hides the text around it nor fills the byte budget. A file read in
*sniffing* mode (no text suffix, no UTF-16 BOM) stops at its first block of 1 MiB in which
more than ``binary_share`` of the bytes but NULs are control bytes (a checkpoint, an
archive): the text before it is scanned, the rest is counted as binary.

Fails closed: reads stop at caps (text bytes per file and in all, bytes read in all, files
and directories opened), and every cap hit or unreadable entry is recorded;
:meth:`ReadLog.incomplete` names them, and a scan with any is incomplete. Not covered: text
the reader cannot see as text (compressed or encrypted files, binary files, UTF-16 without
a BOM outside ASCII).

JSON and Python string escapes are decoded (``\\n`` as a space, ``\\u00e9`` as ``é``), so
a JSON-encoded text reads as its text: lines that look like JSON are read decoded, other
lines with a backslash both raw and decoded (LaTeX's ``\\times`` must stay ``times``).
"""

from __future__ import annotations

import builtins
import codecs
import errno
import hashlib
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK_CHARS = 1 << 20
"""Characters handed out at a time (whole lines, unless a line is longer); bytes read at a time."""

_CONTROLS = bytes([*range(1, 9), *range(14, 27), *range(28, 32), 127])
"""Control bytes that never occur in text: binary (tab, line breaks, VT, FF, CR and ESC are text)."""
_DROP = b"\0" + _CONTROLS
_CONTROL = re.compile(b"[" + re.escape(_CONTROLS) + b"]")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")
_CAPS = ("max_file_bytes", "max_total_bytes", "max_read_bytes", "max_files")


@dataclass
class ReadLog:
    """What :func:`read_texts` read, skipped (by reason) and cut short; shared by several calls."""

    files: int = 0
    """Files that held text (and were scanned)."""
    bytes: int = 0
    """Text bytes handed out (binary bytes dropped)."""
    read: int = 0
    """Bytes read from files (text and binary; holes of sparse files are not read)."""
    skipped: Counter[str] = field(default_factory=Counter)
    capped: list[str] = field(default_factory=list)
    """Files cut short by ``max_file_bytes``."""
    caps: set[str] = field(default_factory=set)
    """The caps that stopped reading."""
    digests: dict[int, set[builtins.bytes]] = field(default_factory=dict)  # `bytes` is the field above
    """Size -> content digests of the files read in full (their copies are not read again)."""

    def incomplete(self) -> list[str]:
        """Why the scan missed bytes it should have read: caps hit, unreadable entries (empty: none)."""
        if self.skipped["over max_files"]:
            self.caps.add("max_files")
        out = [cap for cap in _CAPS if cap in self.caps]
        if self.skipped["unreadable"]:
            out.append(f"{self.skipped['unreadable']} unreadable file(s) or folder(s)")
        return out

    def evidence(self) -> dict[str, Any]:
        self.incomplete()
        return {
            "files_scanned": self.files,
            "files_skipped": dict(+self.skipped),  # + drops zero counts
            "bytes_scanned": self.bytes,
            "bytes_read": self.read,
            "caps_hit": {
                "max_file_bytes": self.capped[:20],
                **{cap: cap in self.caps for cap in _CAPS[1:]},
            },
        }


@dataclass
class _State:
    """One file's read: text bytes handed out, bytes read, and why it stopped early ("" if not)."""

    text: int = 0
    read: int = 0
    stop: str = ""
    digest: Any = field(default_factory=lambda: hashlib.blake2b(digest_size=16))


def read_texts(
    paths: Sequence[Path],
    log: ReadLog,
    *,
    text_suffixes: tuple[str, ...] = (),
    binary_share: float = 0.01,
    max_files: int | None = None,
    max_file_bytes: int | None = None,
    max_total_bytes: int | None = None,
    max_read_bytes: int | None = None,
    all_text: bool = False,
) -> Iterator[tuple[str, Iterator[str]]]:
    """(path, text blocks) of each text file under ``paths``, in sorted order.

    Consume each file's blocks before asking for the next file.

    Args:
        paths: Files or directories, walked without following links.
        log: Where reads, skips and caps are recorded; the caps count this call's reads only.
        text_suffixes: Files named with these endings are read as text, whatever their bytes.
        binary_share: Other files stop at their first block with more than this share of
            control bytes (NULs left out).
        max_files: Files and directories opened (None: no cap).
        max_file_bytes: Text bytes handed out per file.
        max_total_bytes: Text bytes handed out in all.
        max_read_bytes: Bytes read in all (text and binary).
        all_text: Read every file as text, to its end (files the host wrote, such as the
            ``train`` tool's snapshots).
    """
    text0, read0 = log.bytes, log.read
    for name, fd in _files(paths, _cap(max_files), log.skipped):
        left = _cap(max_total_bytes) - (log.bytes - text0)
        if left <= 0:
            log.skipped["over max_total_bytes"] += 1
            log.caps.add("max_total_bytes")
            continue
        try:
            size = os.fstat(fd).st_size
            if _copy_of_a_read_file(fd, size, log, _cap(max_read_bytes) - (log.read - read0)):
                log.skipped["copy of a file read in full"] += 1
                continue
            bom = os.pread(fd, 2, 0) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        except OSError:
            log.skipped["unreadable"] += 1
            continue
        sniff = None if all_text or bom or name.lower().endswith(text_suffixes) else binary_share
        per_file, state = _cap(max_file_bytes), _State()
        read_left = _cap(max_read_bytes) - (log.read - read0)
        yield name, _blocks(fd, state, min(per_file, left), read_left, "utf-16" if bom else "utf-8", sniff)
        log.read, log.bytes = log.read + state.read, log.bytes + state.text
        _account(log, name, state, size, file_cap=per_file < left)


def _account(log: ReadLog, name: str, state: _State, size: int, file_cap: bool) -> None:
    """Record one file's read in ``log``: a cap that stopped it, no text (binary), a full read."""
    if state.stop == "text cap":
        log.caps.add("max_file_bytes" if file_cap else "max_total_bytes")
        if file_cap:
            log.capped.append(name)
    elif state.stop == "read cap":
        log.caps.add("max_read_bytes")
    if state.stop == "unreadable" or (state.stop == "read cap" and not state.text):
        log.skipped["unreadable" if state.stop == "unreadable" else "over max_read_bytes"] += 1
    elif state.text == 0 and size > 0:  # NULs (holes too), or binary from its start: no text
        log.skipped["binary"] += 1
    else:
        log.files += 1
        if state.stop == "binary":
            log.skipped["binary rest"] += 1
    if not state.stop:
        log.digests.setdefault(size, set()).add(state.digest.digest())


def _cap(value: int | None) -> int:
    return sys.maxsize if value is None else value


def _copy_of_a_read_file(fd: int, size: int, log: ReadLog, read_left: int) -> bool:
    """Whether the file's content equals a file's read in full before (its bytes count as read)."""
    if size not in log.digests:
        return False
    state = _State()
    for _ in _chunks(fd, state, read_left):
        pass
    log.read += state.read
    return not state.stop and state.digest.digest() in log.digests[size]


def _chunks(fd: int, state: _State, read_limit: int) -> Iterator[bytes]:
    """The file's bytes, a block at a time, skipping holes; counted and hashed into ``state``."""
    pos, seek = 0, True
    while True:
        if seek:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as err:
                if err.errno == errno.ENXIO:  # no data after pos
                    return
                seek = False  # a file system without SEEK_DATA: holes are read as zeros
        try:
            want = min(BLOCK_CHARS, read_limit - state.read)
            if want <= 0:
                state.stop = "read cap" if os.pread(fd, 1, pos) else ""
                return
            chunk = os.pread(fd, want, pos)
        except OSError:
            state.stop = "unreadable"
            return
        if not chunk:
            return
        state.digest.update(pos.to_bytes(8, "little"))
        state.digest.update(chunk)
        pos, state.read = pos + len(chunk), state.read + len(chunk)
        yield chunk


def _blocks(
    fd: int, state: _State, text_limit: int, read_limit: int, encoding: str, sniff: float | None
) -> Iterator[str]:
    """Decoded text of the file, binary bytes dropped, until ``text_limit`` text bytes."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    rest = ""
    for chunk in _chunks(fd, state, read_limit):
        kept = chunk
        if encoding == "utf-8":  # UTF-8 sequences hold no byte below 0x80: dropping keeps them whole
            kept = chunk.translate(None, _DROP)
            body = len(chunk) - chunk.count(0)
            if sniff is not None and body - len(kept) > sniff * body:  # binary: keep the text before it
                state.stop = "binary"
                first = _CONTROL.search(chunk)
                kept = chunk[: first.start() if first else 0].translate(None, b"\0")
        if len(kept) > text_limit - state.text:
            kept, state.stop = kept[: text_limit - state.text], "text cap"
        state.text += len(kept)
        text = rest + decoder.decode(kept)
        cut = text.rfind("\n") + 1 or (len(text) if len(text) > BLOCK_CHARS else 0)
        if cut:
            yield "\n".join(_decoded(text[:cut].split("\n")))
        rest = text[cut:]
        if state.stop:
            break
    yield "\n".join(_decoded([rest + decoder.decode(b"", final=True)]))


def split_text(text: str) -> Iterator[str]:
    r"""An in-memory text in blocks of whole lines, escapes decoded as in files.

    >>> list(split_text('{"q": "caf\\u00e9"}'))
    ['{"q": "café"}']
    """
    lines = text.split("\n")
    step = max(1, BLOCK_CHARS // 100)
    for lo in range(0, len(lines), step):
        yield "\n".join(_decoded(lines[lo : lo + step]))


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
    except OSError as err:
        skipped["missing" if err.errno == errno.ENOENT else "unreadable"] += 1
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
        except OSError as err:  # a link (O_NOFOLLOW), gone (a path given that does not exist), or unreadable
            link, gone = stat.S_ISLNK(_lmode(name, dfd)), err.errno == errno.ENOENT
            skipped["link" if link else "missing" if gone else "unreadable"] += 1
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
