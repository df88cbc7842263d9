"""Text helpers with no dependencies: the one way long text is cut for people and policies.

Example:
    >>> print(truncate_middle("a" * 8 + "b" * 8, limit=8))
    aaaa
    [... 8 chars cut: output keeps the first 4 and last 4 of 16 chars ...]
    bbbb
"""

from __future__ import annotations


def truncate_middle(text: str, limit: int, total: int | None = None) -> str:
    """Keep the first and last ``limit // 2`` characters of ``text``, saying how much was cut.

    Args:
        text: The text (possibly already cut in the middle, as shell output is).
        limit: Characters kept.
        total: Length of the original text when ``text`` is already shortened.
    """
    total = len(text) if total is None else total
    if total <= limit and len(text) <= limit:
        return text
    half = limit // 2
    cut = total - 2 * half
    marker = f"\n[... {cut} chars cut: output keeps the first {half} and last {half} of {total} chars ...]\n"
    return text[:half] + marker + text[-half:]


def last_frames(text: str) -> str:
    """``text`` with each line reduced to its last carriage-return frame (a progress bar's state).

    A terminal shows only the last frame of a line that ``\\r`` rewrites; a log keeps them
    all. A line ending in ``\\r\\n`` keeps its text.

    >>> last_frames("step 1\\r 10%|#  |\\r 50%|## |\\r100%|###|\\ndone\\r\\n")
    '100%|###|\\ndone\\n'
    """
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\r" in line:
            frames = [f for f in line.split("\r") if f]
            lines[i] = frames[-1] if frames else ""
    return "\n".join(lines)
