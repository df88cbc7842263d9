"""The ``ptb-env`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ptb_env.benchmarks import list_benchmarks
from ptb_env.paths import TINY_MODEL_DIR


def _evaluate(a: argparse.Namespace) -> int:
    from ptb_env.inference import evaluate

    names = a.benchmark or list_benchmarks()
    rows = []
    for name in names:
        r = evaluate(a.model, name, a.split, limit=a.limit, batch_size=a.batch_size)
        rows.append(
            {
                "benchmark": name,
                "split": a.split,
                "score": round(r.score, 4),
                "n": r.n,
                "seconds": round(r.seconds, 1),
            }
        )
        print(f"{name:12s} {a.split:5s} score={r.score:.3f} n={r.n} ({r.seconds:.1f} s)")
        if a.show:
            for rec in r.records[: a.show]:
                print("   ", json.dumps(rec, ensure_ascii=False))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ptb-env", description="LLM post-training as an RL environment.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="score a checkpoint on tiny benchmarks (greedy decoding)")
    ev.add_argument("--model", type=Path, default=TINY_MODEL_DIR, help="HF model dir (default: tiny base)")
    ev.add_argument(
        "--benchmark", action="append", choices=list_benchmarks(), help="benchmark (repeatable; default: all)"
    )
    ev.add_argument("--split", default="test", choices=["train", "dev", "test"])
    ev.add_argument("--limit", type=int, default=None, help="first N items only")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--show", type=int, default=0, help="print the first N per-item records")
    ev.add_argument("--json", help="also write the scores to this JSON file")
    ev.set_defaults(func=_evaluate)
    a = parser.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
