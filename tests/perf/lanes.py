"""The two test lanes' time, from a pytest log with ``--durations=0``: where it goes, what to move.

    .venv/bin/python -m pytest -q --durations=0 > full.log   # or PYTEST_ADDOPTS="--durations=0" .ci/run
    .venv/bin/python tests/perf/lanes.py full.log [--fast-budget 150]

Prints the seconds of each lane (the sum of every test's setup, call and teardown: the wall
time less collection and start-up), the slowest tests of each, and, when the fast lane's sum is
over ``--fast-budget``, the fewest of its slowest tests to mark ``slow`` to bring it under.
Which lane a test is in comes from ``pytest --collect-only -m slow``, run here.

``--write-durations tests/durations.json`` also writes each test file's seconds, which
``tests/conftest.py`` uses to hand pytest-xdist's workers the costliest files first.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S+)")


def file_durations(log: str) -> dict[str, float]:
    """Seconds per test file, costliest first, from ``--durations`` lines."""
    out: dict[str, float] = defaultdict(float)
    for test, seconds in durations(log).items():
        out[test.split("::", 1)[0]] += seconds
    return {f: round(s, 1) for f, s in sorted(out.items(), key=lambda x: -x[1])}


def durations(log: str) -> dict[str, float]:
    """Seconds per test function (parameters folded together), from ``--durations`` lines."""
    out: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        m = LINE.match(line)
        if m:
            out[m.group(3).split("[", 1)[0]] += float(m.group(1))
    return dict(out)


def slow_tests(root: Path) -> set[str]:
    """Test functions marked ``slow`` (collected, not run)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow", "-p", "no:randomly"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return {line.split("[", 1)[0] for line in proc.stdout.splitlines() if "::" in line}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", type=Path)
    p.add_argument("--fast-budget", type=float, default=150.0, help="seconds the fast lane's tests may take")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--write-durations", type=Path, help="write each test file's seconds here (JSON)")
    a = p.parse_args()
    log = a.log.read_text(encoding="utf-8", errors="replace")
    if a.write_durations:
        a.write_durations.write_text(json.dumps(file_durations(log), indent=1) + "\n", encoding="utf-8")
    times = durations(log)
    slow = slow_tests(Path(__file__).resolve().parents[2])
    lanes = {
        "slow": {t: s for t, s in times.items() if t in slow},
        "fast": {t: s for t, s in times.items() if t not in slow},
    }
    for name, tests in lanes.items():
        total = sum(tests.values())
        print(f"{name} lane: {len(tests)} test functions, {total:.0f} s of setup+call+teardown")
        for t, s in sorted(tests.items(), key=lambda x: -x[1])[: a.top]:
            print(f"  {s:8.1f} s  {t}")
    fast = sorted(lanes["fast"].items(), key=lambda x: -x[1])
    total, move = sum(lanes["fast"].values()), []
    for t, s in fast:
        if total <= a.fast_budget:
            break
        move.append((t, s))
        total -= s
    if move:
        print(f"\nmark slow to bring the fast lane to {total:.0f} s (budget {a.fast_budget:.0f} s):")
        for t, s in move:
            print(f"  {s:8.1f} s  {t}")


if __name__ == "__main__":
    main()
