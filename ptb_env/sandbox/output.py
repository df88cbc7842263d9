"""Bounded shell output: keep the head and the tail, say how much was cut.

Example:
    >>> print(truncate_middle("a" * 8 + "b" * 8, limit=8))
    aaaa
    [... 8 chars cut: output keeps the first 4 and last 4 of 16 chars ...]
    bbbb
"""

from __future__ import annotations

from ptb_env.text import truncate_middle as _truncate_middle

OUTPUT_LIMIT = 10_000
"""Characters of output returned per call: the first and last half of that."""


def truncate_middle(text: str, limit: int = OUTPUT_LIMIT, total: int | None = None) -> str:
    """:func:`ptb_env.text.truncate_middle` with the shell's ``OUTPUT_LIMIT`` as default."""
    return _truncate_middle(text, limit, total)


class HeadTail:
    """Accumulate a byte stream in bounded memory, keeping its head and tail.

    Args:
        keep: Bytes kept at each end (the middle is dropped and counted).
    """

    def __init__(self, keep: int = 4 * OUTPUT_LIMIT) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        """Append ``data``."""
        if len(self.head) < self.keep:
            take = self.keep - len(self.head)
            self.head += data[:take]
            data = data[take:]
        self.tail += data
        if len(self.tail) > 2 * self.keep:
            extra = len(self.tail) - self.keep
            del self.tail[:extra]
            self.dropped += extra

    def text(self, limit: int = OUTPUT_LIMIT) -> str:
        """The output decoded as valid UTF-8 (an invalid byte shows as ``\\xff``), cut to ``limit`` chars."""
        head = self.head.decode("utf-8", "backslashreplace")
        tail = self.tail.decode("utf-8", "backslashreplace")
        if not self.dropped:
            return truncate_middle(head + tail, limit)
        total = len(head) + len(tail) + self.dropped
        return truncate_middle(head[: limit // 2] + tail[-(limit // 2) :], limit, total)
