"""Which learning rate suits the expert's data? Test and dev-shift score at a fixed step count.

    python tests/perf/expert_recipe.py [--task tiny-arith-v2] [--lrs 5e-4 1e-3 2e-3] [--steps 250]
                                       [--seed 0] [--examples 12000] [--save-fractions 0.2 0.4]

Writes the ``expert`` baseline's training data as its episode does (``ptb_agents.augment``:
invented wordings and names, the structure options of ``ptb_agents.expert.OPTIONS``), trains the
task's base model on it for a fixed number of steps (a step schedule, so the figure does not
depend on the machine's speed) at each learning rate, and prints the hidden test and the
dev-shift score of each run (and of the checkpoints saved along it, ``--save-fractions``).
Host only (it reads the hidden test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_agents import augment
    from ptb_agents.expert import OPTIONS
    from ptb_env.cpus import available_cpus
    from ptb_env.inference import evaluate
    from ptb_env.tasks import get_task
    from ptb_env.training.sft import SFTConfig, saved_steps, train_sft

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="tiny-arith-v2")
    p.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3])
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--examples", type=int, default=12_000)
    p.add_argument("--save-fractions", type=float, nargs="*", default=[], help="also score checkpoints here")
    a = p.parse_args()
    torch.set_num_threads(available_cpus())
    spec = get_task(a.task)
    with tempfile.TemporaryDirectory(prefix="expert-recipe-") as tmp:
        work = Path(tmp)
        (work / "make_data.py").write_text(augment.SCRIPT)
        data_spec = augment.data_spec(spec.benchmark, a.examples, a.seed, OPTIONS.get(spec.benchmark, {}))
        (work / "spec.json").write_text(json.dumps(data_spec))
        subprocess.run([sys.executable, "make_data.py", "spec.json", "train.jsonl"], cwd=work, check=True)
        for lr in a.lrs:
            t0 = time.perf_counter()
            config = SFTConfig(
                learning_rate=lr,
                batch_size=32,
                max_steps=a.steps,
                seed=a.seed,
                schedule="steps",
                save_fractions=tuple(a.save_fractions),
            )
            out = work / f"lr-{lr:g}"
            train_sft(Path(spec.base_model), work / "train.jsonl", out, config, progress=False)
            train_s = round(time.perf_counter() - t0, 1)
            saved = saved_steps(out)
            for model, step in [*((q, int(q.name.split("-")[1])) for q in saved), (out, a.steps)]:
                row = {"task": a.task, "lr": lr, "steps": a.steps, "step": step, "train_s": train_s}
                for split in ("test", "dev-shift"):
                    result = evaluate(model, spec.benchmark, split, progress=False, backend="transformers")
                    row[split] = round(result.score, 3)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
