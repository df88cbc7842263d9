"""Writes training data for a tiny benchmark as chat examples (JSONL).

    python -m ptb_env.benchmarks.generate tiny-arith --n 5000 --seed 0 --out train.jsonl
    python -m ptb_env.benchmarks.generate tiny-arith-v2 --n 5000 --ops 1-5 --distractors 0.5 --out train.jsonl

Each line is ``{"messages": [prompt turns..., {"role": "assistant", "content": reply}]}``,
the format the ``train`` tool and ``ptb_env.training.sft`` read. Same arguments, same file.
A benchmark's own generator options (``--help`` after its name lists them) change the
structure of what it draws; without them it draws its default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ptb_env.benchmarks import get_benchmark, list_benchmarks
from ptb_env.benchmarks.base import write_jsonl


def write_train_data(benchmark: str, n: int, seed: int, out: Path, **options: Any) -> int:
    """Write ``n`` generated training examples of ``benchmark`` to ``out``; returns ``n``."""
    items = get_benchmark(benchmark).generate(n, seed=seed, **options)
    write_jsonl(out, (it.chat_example() for it in items))
    return len(items)


def parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per benchmark, with that generator's options."""
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subs = top.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name in list_benchmarks():
        sub = subs.add_parser(name, help=f"data of {name}")
        sub.add_argument("--n", type=int, default=1000, help="number of examples")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--out", type=Path, required=True)
        for opt, spec in get_benchmark(name).generator_options().items():
            sub.add_argument(f"--{opt.replace('_', '-')}", dest=f"opt_{opt}", metavar="VALUE", help=spec.help)
    return top


def main() -> None:
    a = parser().parse_args()
    given = vars(a).items()
    options = {k.removeprefix("opt_"): v for k, v in given if k.startswith("opt_") and v is not None}
    try:
        n = write_train_data(a.benchmark, a.n, a.seed, a.out, **options)
    except ValueError as err:
        sys.exit(f"error: {err}")
    print(f"wrote {n} examples to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
