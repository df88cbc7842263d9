"""Workspace creation time for a small model and for a 1 GB model file (goal: same, <= 0.1 s).

The model is linked, never copied, so creation cost must not grow with model size.

Run: ``.venv/bin/python tests/perf/perf_workspace.py [--n 20] [--model DIR]``
(``--model`` defaults to the shipped tiny model when it exists.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.workspace import Workspace


def _median_s(model: Path, root: Path, n: int, dev: Path) -> float:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        ws = Workspace.create(root, model, task_card="# perf\n" * 50, visible_files={"dev.jsonl": dev},
                              episode_id=f"{model.name}-{i}")  # fmt: skip
        samples.append(time.perf_counter() - t0)
        ws.remove()
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--model", type=Path, default=TINY_MODEL_DIR)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dev = tmp / "dev.jsonl"
        dev.write_text('{"prompt": "1+1=", "answer": "2"}\n' * 500)
        small = args.model
        if not small.is_dir():
            small = tmp / "small_model"
            small.mkdir()
            (small / "config.json").write_text("{}")
            (small / "model.safetensors").write_bytes(os.urandom(1 << 20))
        big = tmp / "big_model"
        big.mkdir()
        (big / "config.json").write_text("{}")
        with open(big / "model.safetensors", "wb") as f:  # 1 GB of real (non-sparse) data
            chunk = os.urandom(1 << 20)
            for _ in range(1024):
                f.write(chunk)
        t_small = _median_s(small, tmp / "ws", args.n, dev)
        t_big = _median_s(big, tmp / "ws", args.n, dev)
    print(f"workspace creation, model {small} : median {t_small * 1000:.2f} ms")
    print(f"workspace creation, 1 GB model file: median {t_big * 1000:.2f} ms  (goal: same, <= 100 ms)")
    print(f"ratio big / small: {t_big / t_small:.2f}x")


if __name__ == "__main__":
    main()
