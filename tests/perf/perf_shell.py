"""Latency of a trivial command (`true`) through the persistent sandboxed shell.

Prints the median latency and its ratio to a bare ``subprocess.run(["bash", "-c", "true"])``
measured in the same run (goal: <= 15 ms and <= 3x).

Run: ``.venv/bin/python tests/perf/perf_shell.py [--n 200] [--kind bwrap|none]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from ptb_env.sandbox import make_sandbox
from ptb_env.workspace import Workspace


def _median_ms(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--kind", default="bwrap", choices=["bwrap", "none"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "config.json").write_text("{}")
        ws = Workspace.create(Path(tmp) / "ws", model, task_card="perf")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            sb = make_sandbox(ws, kind=args.kind)
            start_ms = (time.perf_counter() - t0) * 1000
        try:
            for _ in range(10):  # warm up both paths
                sb.run("true")
                subprocess.run(["bash", "-c", "true"])
            bare = _median_ms(lambda: subprocess.run(["bash", "-c", "true"]), args.n)
            shell = _median_ms(lambda: sb.run("true"), args.n)
        finally:
            sb.close()
    print(f"sandbox start ({args.kind}): {start_ms:.1f} ms")
    print(f"bare subprocess.run(['bash','-c','true']): median {bare:.2f} ms")
    print(f"persistent shell ({args.kind}) `true`: median {shell:.2f} ms  (goal <= 15 ms)")
    print(f"ratio shell / bare: {shell / bare:.2f}x  (goal <= 3x)")


if __name__ == "__main__":
    main()
