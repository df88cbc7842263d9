"""File tools: ``read_file`` and ``write_file``, carried out inside the sandbox.

Both run as the agent, in its mount namespace: a symlink can lead only where
the agent could go anyway, and the host never opens a path the agent chose.
Only regular files are read or replaced, and every read or write runs under
``timeout``: a FIFO (or a file swapped for one) cannot hang the shell. Paths
resolve through the sandbox's mapping (``ctx.paths``): relative ones start at the
workspace, and without a sandbox a path outside the workspace is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ptb_env.errors import WorkspaceError
from ptb_env.sandbox import OUTPUT_LIMIT
from ptb_env.sandbox.driver import quote
from ptb_env.tools.base import Tool, ToolContext, ToolResult, integer, schema, string

_STATUS = "__PTB_FILE__"
_IO_TIMEOUT_S = 20
"""Seconds a read or write may take inside the sandbox (below the control request's timeout)."""


class ReadFile(Tool):
    name = "read_file"
    description = (
        "Read a text file: up to max_chars bytes from byte offset (default: from the start, "
        f"{OUTPUT_LIMIT} bytes). Relative paths start at the workspace."
    )
    parameters = schema(
        ("path",),
        path=string("File to read.", 4096),
        offset=integer("Byte offset to start at.", 0, 2**50),
        max_chars=integer(f"Bytes to read (at most {OUTPUT_LIMIT}).", 1, OUTPUT_LIMIT),
    )
    sample_weight = 1.0

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        try:
            target = ctx.paths.inner(args["path"])
        except WorkspaceError as err:
            return ToolResult(error=str(err))
        path = quote(target)
        offset, limit = args.get("offset", 0), args.get("max_chars", OUTPUT_LIMIT)
        script = (
            f'__f={path}; if [ -d "$__f" ]; then echo {_STATUS} dir; '
            f'elif [ ! -e "$__f" ]; then echo {_STATUS} missing; '
            f'elif [ ! -f "$__f" ]; then echo {_STATUS} special; '
            f'elif [ ! -r "$__f" ]; then echo {_STATUS} unreadable; '
            f'else echo {_STATUS} ok $(stat -L -c %s -- "$__f"); '
            f'timeout -s KILL {_IO_TIMEOUT_S} tail -c +{offset + 1} -- "$__f" | head -c {limit}; fi'
        )
        out = ctx.sandbox.request(script, timeout=30)
        head, _, body = out.partition("\n")
        fields = head.split()
        state = fields[1] if len(fields) > 1 and fields[0] == _STATUS else "failed"
        if state == "ok":
            size = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else -1
            # where head -c stopped (the decoded body may hold U+FFFD for a cut character)
            end = max(offset, min(size, offset + limit))
            note = f"\n[bytes {offset}-{end} of {size}]" if size > limit or offset else ""
            span = {"size": size, "start": offset, "end": end}
            return ToolResult(output=body + note, data={"path": target, **span})
        why = {
            "dir": "is a directory (list it with bash: ls)",
            "missing": "does not exist",
            "special": "is not a regular file (a device, FIFO or socket); read it with bash",
            "unreadable": "is not readable",
        }.get(state, f"could not be read ({out[-200:]!r})")
        return ToolResult(error=f"{args['path']!r} {why}.")

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        paths = ("TASK.md", "data", "missing.txt", "base_model/config.json", "/etc/passwd", "notes.txt")
        return {"path": paths[int(rng.integers(len(paths)))], "max_chars": int(rng.integers(1, 3000))}


class WriteFile(Tool):
    name = "write_file"
    description = (
        "Write text to a file (creating parent directories), replacing it or appending to it. "
        "Relative paths start at the workspace."
    )
    parameters = schema(
        ("path", "content"),
        path=string("File to write.", 4096),
        content=string("Text to write (UTF-8, no NUL characters)."),
        append={"type": "boolean", "description": "Append instead of replacing (default false)."},
    )
    sample_weight = 1.0

    def run(self, ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        content: str = args["content"]
        if "\x00" in content:
            return ToolResult(error="content contains a NUL character; write binary files with bash.")
        try:
            path = ctx.paths.inner(args["path"], write=True)
        except WorkspaceError as err:
            return ToolResult(error=str(err))
        append = " -a" if args.get("append") else ""
        script = (
            f'__f={quote(path)}; mkdir -p -- "$(dirname -- "$__f")" 2>&1 && '
            f'if [ -e "$__f" ] && [ ! -f "$__f" ]; then echo "not a regular file (write it with bash)"; '
            f"else printf '%s' {quote(content)} | timeout -s KILL {_IO_TIMEOUT_S} tee{append} -- \"$__f\" "
            f"2>&1 >/dev/null && echo {_STATUS} ok; fi"
        )
        out = ctx.sandbox.request(script, timeout=60)
        if f"{_STATUS} ok" not in out:
            return ToolResult(
                error=f"Could not write {args['path']!r}: {out.strip()[-300:] or 'permission denied'}."
            )
        n = len(content.encode("utf-8", "surrogateescape"))
        return ToolResult(
            output=f"wrote {n} bytes to {path}",
            data={"path": path, "bytes": n, "append": bool(args.get("append"))},
        )

    def sample_args(self, rng: np.random.Generator) -> dict[str, Any]:
        text = "".join(rng.choice(list("abc λ中🙂\n{}\"'$`\\"), size=int(rng.integers(0, 40))))
        paths = ("notes.txt", "scratch/a.txt", "/tmp/x.txt", "data/extra.jsonl")
        return {
            "path": paths[int(rng.integers(len(paths)))],
            "content": text,
            "append": bool(rng.random() < 0.3),
        }
