"""Training-step time of the tiny model by thread setting, as a ratio to 1 thread (same run).

    .venv/bin/python tests/perf/threads.py [--steps 8]

Each setting runs in its own process (OpenMP reads its variables at start-up): 1 thread (the
reference), 2 threads, 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` (what the sandbox sets).
Run it with and without a busy neighbour process to see what oversubscription costs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import sys, time, torch
from transformers import AutoModelForCausalLM
from ptb_env.paths import TINY_MODEL_DIR
torch.set_num_threads(int(sys.argv[1]))
m = AutoModelForCausalLM.from_pretrained(TINY_MODEL_DIR)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
x = torch.randint(0, 1000, (32, 64))
ts = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    m(input_ids=x, labels=x).loss.backward(); opt.step(); opt.zero_grad()
    ts.append(time.perf_counter() - t)
ts = sorted(ts[2:])
print(ts[len(ts) // 2])
"""


def step_seconds(threads: int, steps: int, passive: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(steps)], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return float(out.stdout.split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8)
    a = p.parse_args()
    ref = step_seconds(1, a.steps, passive=False)
    print(f"1 thread (reference): {ref:.3f} s per step")
    for threads, passive in ((2, False), (2, True)):
        s = step_seconds(threads, a.steps, passive)
        name = f"{threads} threads" + (", PASSIVE" if passive else "")
        print(f"{name}: {s:.3f} s per step, {s / ref:.2f}x the reference")


if __name__ == "__main__":
    main()
