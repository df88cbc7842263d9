"""Writes training data for a tiny benchmark as chat examples (JSONL).

    python -m ptb_env.benchmarks.generate tiny-arith --n 5000 --seed 0 --out train.jsonl

Each line is ``{"messages": [prompt turns..., {"role": "assistant", "content": reply}]}``,
the format the ``train`` tool and ``ptb_env.training.sft`` read. Same seed, same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ptb_env.benchmarks import get_benchmark, list_benchmarks
from ptb_env.benchmarks.base import write_jsonl


def write_train_data(benchmark: str, n: int, seed: int, out: Path) -> int:
    """Write ``n`` generated training examples of ``benchmark`` to ``out``; returns ``n``."""
    items = get_benchmark(benchmark).generate(n, seed=seed)
    write_jsonl(out, (it.chat_example() for it in items))
    return len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=list_benchmarks())
    parser.add_argument("--n", type=int, default=1000, help="number of examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args()
    n = write_train_data(a.benchmark, a.n, a.seed, a.out)
    print(f"wrote {n} examples to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
