"""Writes the fixed splits of the tiny benchmarks: public dev files, hidden test files.

Run ``python -m ptb_env.benchmarks.build_splits`` after changing a generator; the
output is deterministic (same code and held-out vocabulary, same files). The dev-shift
files come from the third vocabulary of :mod:`ptb_env.tiny.shift`. Test
items come from the held-out vocabulary in the private directory (names, places
and question templates that train and dev never use), so they cannot occur in
train or dev data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ptb_env.benchmarks import TINY_BENCHMARKS, get_benchmark
from ptb_env.benchmarks.base import SyntheticBenchmark, write_jsonl
from ptb_env.paths import PRIVATE_DIR, PUBLIC_DATA_DIR

DEV_SEED = 7
N_DEV = 200


def build(names: list[str], data_dir: Path = PUBLIC_DATA_DIR, private_dir: Path = PRIVATE_DIR) -> None:
    """Write dev (public) and test (private) splits of the named benchmarks."""
    heldout = json.loads((private_dir / "heldout.json").read_text())
    for name in names:
        bench = get_benchmark(name)
        assert isinstance(bench, SyntheticBenchmark)
        dev = bench.make_items(N_DEV, DEV_SEED, "dev", bench.public_vocab())
        shifted = bench.make_items(N_DEV, DEV_SEED, "dev-shift", bench.shift_vocab())
        vocab = bench.heldout_vocab(heldout[bench.heldout_key or name])
        test = bench.make_items(heldout["n_test"], heldout["seed"], "test", vocab)
        write_jsonl(data_dir / name / "dev.jsonl", (it.to_json() for it in dev))
        write_jsonl(data_dir / name / "dev_shift.jsonl", (it.to_json() for it in shifted))
        write_jsonl(private_dir / "benchmarks" / name / "test.jsonl", (it.to_json() for it in test))
        print(f"{name}: {len(dev)} dev items, {len(shifted)} dev-shift items, {len(test)} test items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(TINY_BENCHMARKS))  # the hub's have no files to write
    build(parser.parse_args().names)


if __name__ == "__main__":
    main()
