"""Test-split uplift of the reference SFT recipe on the tiny benchmarks, under a time limit.

    python tests/perf/sft_uplift.py --minutes 3 [--benchmark tiny-arith] [--n-train 20000]

For each benchmark: generate train data, fine-tune the shipped base model with the
reference recipe for at most ``--minutes`` of training on this machine, then print
the base and fine-tuned test scores (full hidden test split) and the uplift.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_env.benchmarks.generate import write_train_data
    from ptb_env.inference import evaluate
    from ptb_env.paths import TINY_MODEL_DIR
    from ptb_env.training.sft import SFTConfig, train_sft

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", action="append", help="default: tiny-arith and tiny-tools")
    p.add_argument("--minutes", type=float, default=3.0, help="training time limit")
    p.add_argument("--steps", type=int, default=-1, help="optimizer steps (default: fit the time)")
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--lr", type=float, default=SFTConfig.learning_rate)
    p.add_argument("--batch-size", type=int, default=SFTConfig.batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, help="keep checkpoints under this directory")
    a = p.parse_args()

    rows = []
    for name in a.benchmark or ["tiny-arith", "tiny-tools"]:
        with tempfile.TemporaryDirectory() as tmp:
            out = (a.keep / name) if a.keep else Path(tmp) / "model"
            data = Path(tmp) / "train.jsonl"
            write_train_data(name, a.n_train, a.seed, data)
            cfg = SFTConfig(
                learning_rate=a.lr,
                batch_size=a.batch_size,
                max_steps=a.steps,
                epochs=1.0,
                max_seconds=a.minutes * 60,
                seed=a.seed,
            )
            t = time.perf_counter()
            metrics = train_sft(TINY_MODEL_DIR, data, out, cfg, progress=False)
            train_wall = time.perf_counter() - t
            base = evaluate(TINY_MODEL_DIR, name, "test", progress=False)
            tuned = evaluate(out, name, "test", progress=False)
        row = {
            "benchmark": name,
            "base": round(base.score, 3),
            "sft": round(tuned.score, 3),
            "uplift": round(tuned.score - base.score, 3),
            "n_test": tuned.n,
            "train_seconds": metrics["train_seconds"],
            "train_wall_seconds": round(train_wall, 1),
            "steps": metrics["steps"],
            "final_loss": round(metrics["final_loss"], 4),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"threads={torch.get_num_threads()} minutes={a.minutes} lr={a.lr} batch={a.batch_size}")
    for r in rows:
        print(
            f"{r['benchmark']:12s} base {r['base']:.3f}  sft {r['sft']:.3f}  uplift {r['uplift']:+.3f}  "
            f"({r['steps']} steps, {r['train_seconds']:.0f} s training)"
        )


if __name__ == "__main__":
    main()
