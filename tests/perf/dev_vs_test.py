"""Does a dev split predict the hidden test? Spearman correlation over checkpoints of varied quality.

    python tests/perf/dev_vs_test.py [--benchmark tiny-arith] [--steps 150 ...] [--lrs 1e-3 4e-3]
                                     [--kinds public structured augmented] [--options JSON]
                                     [--save-fractions 0.15 0.4] [--keep DIR] [--json OUT]
    python tests/perf/dev_vs_test.py --benchmark tiny-arith-v3 --rescore DIR [DIR ...] [--json OUT]

Trains the shipped base model on kinds of data (``--kinds``): ``public``, the public
generator's default; ``structured``, the same drawn with the generator's ``--options`` (the
test's structure, as the grid's reference recipe does); ``augmented``, that half-replaced by
wordings and names of this script's own invention, as a strong agent augments (tools and
facts: the ``expert`` baseline's invented vocabulary, ``ptb_agents.augment``); at each
learning rate and run length (``--steps``, one run per length), saving checkpoints at 15% and
40% of each run (``--save-fractions``) and at its end: len(kinds) x len(lrs) x len(steps) x
(len(save_fractions) + 1) checkpoints, plus the base model. A checkpoint saved mid-run has not
had its learning rate decayed; runs of several lengths with ``--save-fractions`` left empty give
only decayed checkpoints, spread in quality by their length. Each is scored on ``dev`` (drawn
like train), ``dev-shift`` (a third vocabulary, shifted like test) and the full hidden test
split with the evaluation the grader uses (greedy, the task's chat template). Prints one row
per checkpoint, the Spearman correlation of each dev split with test (average ranks for
ties), and how many of the pairs of checkpoints at least ``--gap`` apart on test (0.05) each
dev split orders the same way.

``--rescore DIR [DIR ...]`` trains nothing: it scores the checkpoints earlier runs kept in ``DIR``
(``--keep``, or the temporary directory it printed) on ``--benchmark``'s splits, e.g. a run on
``tiny-arith-v2`` on ``tiny-arith-v3``, whose generator draws the same data.

Goal (issue "Tiny world v2"): dev-shift >= 0.9, and >= 0.2 above dev.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: What an agent might invent to widen the public generator (none of it is the dev-shift or the
#: held-out vocabulary; an agent sees neither the held-out one nor, unless it looks, dev-shift's).
INVENTED_QUESTIONS = (
    "How many {obj} remain with {name}?",
    "What is the final count of {obj} for {name}?",
    "By the end, {name} has how many {obj}?",
    "How many {obj} does {name} possess finally?",
    "Say how many {obj} {name} has in total now.",
    "What number of {obj} belongs to {name} at this point?",
    "So how many {obj} has {name} got?",
    "Give the amount of {obj} {name} ends with.",
    "How many {obj} can {name} count now?",
    "At the end of the day, how many {obj} does {name} have?",
    "Once all of this happens, how many {obj} are with {name}?",
    "Determine the {obj} {name} is left with.",
)
INVENTED_NAMES = (
    "Aiko", "Bjorn", "Cyrus", "Dmitri", "Esme", "Farah", "Gideon", "Helga", "Ilse", "Jasper",
    "Kenji", "Lior", "Mirela", "Nils", "Orla", "Pim", "Rhea", "Stellan", "Tuva", "Ugo",
)  # fmt: skip
SPLITS = ("dev", "dev-shift", "test")
KINDS = ("public", "structured", "augmented")


def ordered(x: list[float], y: list[float], gap: float) -> tuple[int, int]:
    """Of the pairs whose ``y`` differ by at least ``gap``, how many ``x`` orders the same way."""
    pairs = [(i, j) for i in range(len(y)) for j in range(i + 1, len(y)) if abs(y[i] - y[j]) >= gap]
    return sum((x[i] - x[j]) * (y[i] - y[j]) > 0 for i, j in pairs), len(pairs)


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation, ties given their average rank (NaN when one side is constant)."""
    import numpy as np

    def ranks(v: list[float]) -> np.ndarray:
        a = np.asarray(v, dtype=float)
        order = a.argsort(kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a), dtype=float)
        for value in np.unique(a):  # ties: the mean of their ranks
            r[a == value] = r[a == value].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def write_data(benchmark: str, kind: str, n: int, seed: int, out: Path, options: dict | None = None) -> None:
    """``n`` chat examples: the public generator's (``public``), the same with the generator's
    ``options`` (``structured``), or that with half of them drawn from this script's invented
    wordings and names (``augmented``)."""
    from ptb_env.benchmarks import get_benchmark
    from ptb_env.benchmarks.arith import ArithVocab
    from ptb_env.benchmarks.base import write_jsonl

    bench = get_benchmark(benchmark)
    known = bench.generator_options()
    if kind not in KINDS:
        raise ValueError(f"unknown kind of data {kind!r}; one of {', '.join(KINDS)}")
    opts = {k: known[k].parse(v) for k, v in (options or {}).items()} if kind != "public" else {}
    items = bench.generate(n, seed=seed, **opts)
    if kind == "augmented":
        if benchmark.startswith("tiny-arith"):
            vocab = ArithVocab(names=INVENTED_NAMES, questions=INVENTED_QUESTIONS, made_up_names=True, **opts)
        else:  # the expert baseline's invented vocabulary
            from dataclasses import replace

            from ptb_agents import augment

            public = replace(bench.public_vocab(), **opts)  # type: ignore[attr-defined]
            vocab = augment.widen(public, augment.extensions(benchmark, random.Random(seed)))
        own = bench.make_items(n // 2, seed, "train-augmented", vocab)  # type: ignore[attr-defined]
        items = items[: n - len(own)] + own
        random.Random(seed).shuffle(items)
    write_jsonl(out, (it.chat_example() for it in items))


def main() -> None:
    import torch

    from ptb_env.cpus import available_cpus
    from ptb_env.inference import evaluate
    from ptb_env.paths import TINY_MODEL_DIR
    from ptb_env.training.sft import SFTConfig, saved_steps, train_sft

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="tiny-arith")
    p.add_argument("--steps", type=int, nargs="+", default=[150], help="optimizer steps (one run each)")
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 4e-3])
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=["public", "augmented"], help="kinds of data")
    p.add_argument(
        "--options", type=json.loads, default={},
        help="generator options of the augmented data, JSON, e.g. "
        '\'{"ops": "1-5", "distractors": 0.5}\' for tiny-arith-v2',
    )  # fmt: skip
    p.add_argument(
        "--save-fractions", type=float, nargs="*", default=[0.15, 0.4],
        help="where along each run intermediate checkpoints are saved (none: only each run's end)",
    )  # fmt: skip
    p.add_argument("--gap", type=float, default=0.05, help="test scores this far apart count as a pair")
    p.add_argument("--keep", type=Path, help="keep the checkpoints under this directory")
    p.add_argument(
        "--rescore", type=Path, nargs="+", default=[],
        help="train nothing: score the checkpoints kept in these directories",
    )  # fmt: skip
    p.add_argument("--json", type=Path, help="write the rows and correlations here")
    a = p.parse_args()
    torch.set_num_threads(max(1, int(available_cpus())))

    roots = a.rescore or [a.keep or Path(tempfile.mkdtemp(prefix="dev-vs-test-"))]
    print(f"checkpoints in {' '.join(map(str, roots))}", flush=True)
    checkpoints: list[tuple[str, Path]] = [("base", TINY_MODEL_DIR)]
    t0 = time.perf_counter()
    for kept in a.rescore:
        for out in sorted(d for d in kept.iterdir() if (d / "config.json").is_file()):
            checkpoints += [(f"{out.name} {step.name}", step) for step in saved_steps(out)]
            checkpoints.append((f"{out.name} end", out))
    for kind in a.kinds if not a.rescore else ():
        data = roots[0] / f"{kind}.jsonl"
        write_data(a.benchmark, kind, a.n_train, 0, data, a.options)
        for lr in a.lrs:
            for steps in a.steps:
                run = f"{kind} lr={lr:g}" + (f" run={steps}" if len(a.steps) > 1 else "")
                out = roots[0] / (f"{kind}-lr{lr:g}" + (f"-{steps}" if len(a.steps) > 1 else ""))
                cfg = SFTConfig(
                    learning_rate=lr, max_steps=steps, save_fractions=tuple(a.save_fractions), seed=0
                )
                train_sft(TINY_MODEL_DIR, data, out, cfg, progress=False)
                checkpoints += [(f"{run} {step.name}", step) for step in saved_steps(out)]
                checkpoints.append((f"{run} step-{steps}", out))
                print(f"trained {out.name} ({time.perf_counter() - t0:.0f} s)", flush=True)

    rows = []
    for label, ckpt in checkpoints:
        row = {"checkpoint": label}
        for split in SPLITS:
            row[split] = evaluate(ckpt, a.benchmark, split, progress=False, backend="transformers").score
        rows.append(row)
        print(f"{label:42s} " + "  ".join(f"{s} {row[s]:.3f}" for s in SPLITS), flush=True)
    test = [r["test"] for r in rows]
    corr = {split: spearman([r[split] for r in rows], test) for split in ("dev", "dev-shift")}
    gap = corr["dev-shift"] - corr["dev"]
    print(
        f"\n{len(rows)} checkpoints of {a.benchmark}; Spearman with test: dev-shift "
        f"{corr['dev-shift']:.3f}, dev {corr['dev']:.3f} (difference {gap:+.3f}); "
        f"{time.perf_counter() - t0:.0f} s"
    )
    # Checkpoints a few points apart on test are a coin toss for any dev split (and for the test
    # itself): the pairs that test does tell apart show what a dev split gets right.
    for split in ("dev-shift", "dev"):
        right, n = ordered([r[split] for r in rows], test, a.gap)
        print(f"pairs {a.gap:g} or more apart on test: {split} orders {right} of {n} the same way")
    if a.json:
        a.json.write_text(json.dumps({"benchmark": a.benchmark, "rows": rows, "spearman": corr}, indent=1))


if __name__ == "__main__":
    main()
