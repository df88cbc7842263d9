"""Cost of the jail: a dev evaluation of an agent's checkpoint in the jail against the same in process.

    python tests/perf/perf_jail.py [--task tiny-arith] [--limit N] [--calls 5]

Both score the same checkpoint (a copy of the base model) on the dev split through
``Grader._evaluate`` (no score cache), alternating in-process and jailed calls in one
process. Prints the first jailed call (it starts the zygote: imports torch and
transformers once per process), the fastest of the later calls of each kind (the
median too: on a shared machine the fastest is the figure) and their
difference: the jail's cost per warm call (cgroup, fork, reply; the model loads in the
child instead of in process). Both use as many torch threads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_env.grading import Grader
    from ptb_env.inference import jail
    from ptb_env.score_cache import ScoreCache
    from ptb_env.tasks import get_task

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="tiny-arith")
    p.add_argument("--limit", type=int, default=None, help="dev items (default: the task's dev_limit)")
    p.add_argument("--calls", type=int, default=5)
    a = p.parse_args()

    task = get_task(a.task)
    limit = a.limit or task.dev_limit
    with tempfile.TemporaryDirectory() as tmp:
        grader = Grader(task, ScoreCache(Path(tmp) / "scores"))
        ckpt = Path(tmp) / "ckpt"
        shutil.copytree(grader.base_dir, ckpt)
        grader._overlay_task_files(ckpt)
        here, jailed, first, scores = [], [], 0.0, set()
        for i in range(a.calls + 1):
            t = time.perf_counter()
            scores.add(grader._evaluate(ckpt, task.dev_split, limit)["score"])
            here.append(time.perf_counter() - t)
            t = time.perf_counter()
            scores.add(grader._evaluate(ckpt, task.dev_split, limit, jailed=True)["score"])
            if i == 0:
                first = time.perf_counter() - t
            else:
                jailed.append(time.perf_counter() - t)
        jail.shutdown()
    h, j = min(here[1:]), min(jailed)
    hm, jm = statistics.median(here[1:]), statistics.median(jailed)
    print(f"task={task.id} split={task.dev_split} items={limit} threads={torch.get_num_threads()}")
    print(f"in process:           {h:6.2f} s per call (fastest of {len(here) - 1}; median {hm:.2f})")
    print(f"jailed:               {j:6.2f} s per call (fastest of {len(jailed)}; median {jm:.2f})")
    print(f"jailed, first call:   {first:6.2f} s (starts the zygote)")
    print(f"jail cost per warm call: {j - h:+.2f} s ({j / h:.2f}x); same score: {len(scores) == 1}")


if __name__ == "__main__":
    main()
