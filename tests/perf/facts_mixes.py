"""Would a tiny-facts test that mixes in easier questions put the plain recipe in the band?

    python tests/perf/facts_mixes.py DIR [DIR ...] [--n 200] [--json OUT]

tiny-arith-v3 put ``scripted-sft`` in the issue's band (+0.25..+0.45) by mixing the generator's
default structure into three of five test problems. This asks whether the same can work for
tiny-facts-v3, before building a v4: it scores the checkpoints that ``tests/perf/dev_vs_test.py
--benchmark tiny-facts-v3 --keep DIR`` kept (and the base model) on v3's test and dev-shift
and on the parts such a mix would add, ``--n`` questions each, drawn from the held-out people
(test) or dev-shift's people:

- ``public-wording``: the generator's default questions (public wording, 4 choices, no trap
  sentence) about the held-out people: what is left of the test when only the people are new;
- ``heldout-wording``: the held-out wordings with the default structure (tiny-arith-v3's kind of
  mix);
- ``public-wording-v3``: the public wording with v3's structure (4-6 choices, half with a trap);
- ``shift-public-wording``, ``shift-default``: the first two for dev-shift's people and wordings.

The added parts are one draw (seed 7): the i-th question of each held-out part (and of each
dev-shift part) asks about the same person and fact, so they differ only in wording and
structure. A mix's score is the share-weighted mean of its parts. Host only (it reads the held-out file).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_env.benchmarks import get_benchmark
    from ptb_env.benchmarks.facts import QUESTIONS
    from ptb_env.cpus import available_cpus
    from ptb_env.inference import GenerationSettings, score_items, transformers_backend
    from ptb_env.paths import TINY_MODEL_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", type=Path, nargs="+", help="directories that dev_vs_test.py --keep filled")
    p.add_argument("--n", type=int, default=200, help="questions per added part")
    p.add_argument("--json", type=Path, help="write the rows here")
    a = p.parse_args()
    torch.set_num_threads(max(1, int(available_cpus())))

    bench = get_benchmark("tiny-facts-v3")
    held = bench.heldout_vocab(bench._heldout()[bench.heldout_key or bench.name])
    shifted = bench.shift_vocab()
    default = {"choices": (4,), "context": 0.0}
    public = {"questions": dict(QUESTIONS)}
    parts = {
        "test": bench.items("test"),
        "public-wording": replace(held, **public, **default),
        "heldout-wording": replace(held, **default),
        "public-wording-v3": replace(held, **public),
        "dev-shift": bench.items("dev-shift"),
        "shift-public-wording": replace(shifted, **public, **default),
        "shift-default": replace(shifted, **default),
    }
    items = {k: v if isinstance(v, list) else bench.make_items(a.n, 7, "probe", v) for k, v in parts.items()}
    checkpoints = [("base", TINY_MODEL_DIR)]
    for root in a.dirs:
        checkpoints += [(d.name, d) for d in sorted(root.iterdir()) if (d / "config.json").is_file()]
    settings = GenerationSettings(max_new_tokens=bench.max_new_tokens, batch_size=64, stop=bench.stop)
    rows = []
    print(f"{'checkpoint':28s} " + " ".join(f"{k:>20s}" for k in items))
    for label, ckpt in checkpoints:
        model, tokenizer = transformers_backend.load(ckpt)
        row: dict[str, str | float] = {"checkpoint": label}
        for part, its in items.items():
            prompts = [it.messages for it in its]
            completions = transformers_backend.generate(model, tokenizer, prompts, settings, False)
            row[part] = round(score_items(bench, its, completions)[0], 3)
        rows.append(row)
        print(f"{label:28s} " + " ".join(f"{row[k]:>20.3f}" for k in items), flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
