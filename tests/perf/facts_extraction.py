"""Does fine-tuning on the public people's facts carry over to the held-out people (tiny-facts-v2)?

    python tests/perf/facts_extraction.py [--model tiny-2m] [--arms letter value-explained]
                                          [--steps 300] [--lr 1e-3] [--limit 200] [--json OUT]

tiny-facts asks about people whose facts the base model read in pre-training. Its hidden test
asks about held-out people, whose facts appear in no training example: a fine-tune earns them
only if it teaches the model to *extract* what it read. This trains the task's base model on the
generator's data with the test's structure (``STRUCTURE_OPTIONS``), each arm with other targets,
and scores test, ``held-out-people`` (the test's people and structure in the public wording:
is it the people or the wording that does not carry over), dev-shift and dev:

- ``letter``: the benchmark's own target, ``ANSWER: B``;
- ``letter-explained``: the fact as the corpus words it, then the letter
  (``Mia lives in Oslo. ANSWER: B``);
- ``value``: the choice's text, ``ANSWER: Oslo`` (scored here as right when it is the true
  value: a looser rule than the benchmark's, to take the letter out of the question);
- ``value-explained``: the fact, then the text;
- ``letter-widened``, ``value-widened``: the letter or the text, with half of the data in the
  question wordings the ``expert`` baseline invents (``ptb_agents.augment``).

It also prints how often the base model completes the corpus's own statement of a fact
(``Mia lives in`` -> ``Oslo``) for the public and the held-out people: what it knows.
The prompts are the benchmark's in every arm. Host only (it reads the held-out facts).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ARMS = ("letter", "letter-explained", "value", "value-explained", "letter-widened", "value-widened")


def recall(model_dir: Path) -> dict[str, float]:
    """Share of facts whose corpus statement the base model completes with the true value."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ptb_env.tiny import world
    from ptb_env.tiny.phrasing import FACT_STATEMENTS

    prompts = {fact: statement.split(" {value}")[0] for fact, statement in FACT_STATEMENTS.items()}
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    out = {}
    for group, people in (("public", world.PEOPLE_FACTS), ("held_out", world.held_out_facts())):
        right = total = 0
        for name, facts in people.items():
            for fact, prompt in prompts.items():  # the corpus's statement, cut before the value
                ids = tok(prompt.format(name=name), return_tensors="pt").input_ids
                with torch.no_grad():
                    gen = model.generate(ids, max_new_tokens=4, do_sample=False)
                said = tok.decode(gen[0, ids.shape[1] :]).strip().split(".")[0].strip()
                right += said == facts[fact]
                total += 1
        out[group] = round(right / max(1, total), 3)
    return out


def target(arm: str, item: Any) -> str:
    from ptb_env.tiny import world
    from ptb_env.tiny.phrasing import FACT_STATEMENTS

    fact, person = item.meta["fact"], item.meta["person"]
    value = world.person_facts(person)[fact]
    answer = f"ANSWER: {value}" if arm.startswith("value") else f"ANSWER: {item.answer}"
    if arm.endswith("explained"):
        return f"{FACT_STATEMENTS[fact].format(name=person, value=value)} {answer}"
    return answer


def right(arm: str, item: Any, completion: str, bench: Any) -> bool:
    from ptb_env.tiny import world

    if not arm.startswith("value"):
        return bench.score(item, completion) == 1.0
    said = re.findall(r"ANSWER:\s*([A-Za-z]+)", completion)
    return bool(said) and said[-1] == world.person_facts(item.meta["person"])[item.meta["fact"]]


def widened(bench: Any, n: int) -> list[Any]:
    """``n`` items with the test's structure, half of them in the question wordings the ``expert``
    invents (``ptb_agents.augment``), as its data script draws them."""
    import random

    from ptb_agents import augment

    known = bench.generator_options()
    options = {k: known[k].parse(v) for k, v in bench.STRUCTURE_OPTIONS.items()}
    vocab = dataclasses.replace(bench.public_vocab(), **options)
    wide = augment.widen(vocab, augment.extensions(bench.name, random.Random(0), 1.0))
    items = bench.make_items(n // 2, 0, "train", vocab) + bench.make_items(n - n // 2, 0, "wide", wide)
    random.Random(0).shuffle(items)
    return items


def held_out_people_items(bench: Any, n: int) -> list[Any]:
    """Questions about the test's held-out people in the public wording, with the test's structure:
    whether the people or the wording is what a fine-tune does not carry over to."""
    from ptb_env.benchmarks.facts import FactsVocab
    from ptb_env.tiny import world

    facts = world.held_out_facts()
    vocab = FactsVocab(
        people=tuple(facts), facts=facts, choices=bench.SHIFTED_CHOICES, context=bench.SHIFTED_CONTEXT
    )
    return bench.make_items(n, 0, "held-out-people", vocab)


def run_arm(
    arm: str, model: str, steps: int, lr: float, limit: int, work: Path, base: Path | None = None
) -> dict[str, Any]:
    from ptb_env.benchmarks import get_benchmark
    from ptb_env.benchmarks.base import write_jsonl
    from ptb_env.inference import evaluate
    from ptb_env.tasks import get_task
    from ptb_env.training.sft import SFTConfig, train_sft

    spec = get_task(f"tiny-facts-v2/{model}")
    bench = get_benchmark(spec.benchmark)
    items = bench.generate(steps * 32, 0, **bench.STRUCTURE_OPTIONS)
    if arm.endswith("widened"):  # half of the data in the expert's invented wordings
        items = widened(bench, steps * 32)
    data = work / f"{arm}.jsonl"
    write_jsonl(data, (dataclasses.replace(it, target=target(arm, it)).chat_example() for it in items))
    t0 = time.perf_counter()
    config = SFTConfig(learning_rate=lr, batch_size=32, max_steps=steps, seed=0, schedule="steps")
    train_sft(base or Path(spec.base_model), data, work / arm, config, progress=False)
    row: dict[str, Any] = {"arm": arm, "model": model, "steps": steps, "lr": lr}
    row["train_s"] = round(time.perf_counter() - t0, 1)
    roomy = copy.copy(bench)
    roomy.max_new_tokens = 32  # room for an explained answer (about 18 tokens; the benchmark grades 16)
    extra = {"held-out-people": held_out_people_items(bench, limit)}

    def items_or_extra(split: str, limit: int | None = None, seed: int = 0) -> list[Any]:
        return extra.get(split) or bench.items(split, limit, seed)

    roomy.items = items_or_extra  # type: ignore[method-assign]  # one more split, of this script's own items
    for split in ("test", "held-out-people", "dev-shift", "dev"):
        result = evaluate(work / arm, roomy, split, limit=limit, progress=False, backend="transformers")
        asked = roomy.items(split, limit=limit)
        pairs = zip(asked, result.records, strict=True)
        hits = sum(right(arm, it, r["completion"], bench) for it, r in pairs)
        row[split] = round(hits / len(asked), 3)
        if split == "test":
            row["test_samples"] = [r["completion"] for r in result.records[:3]]
    return row


def main() -> None:
    import torch

    from ptb_env.cpus import available_cpus
    from ptb_env.tasks import get_task

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny-2m")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=200, help="items scored per split")
    p.add_argument("--base-model", type=Path, help="another base model (default: the task's)")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    torch.set_num_threads(available_cpus())
    rows: list[dict[str, Any]] = []
    known = recall(a.base_model or Path(get_task(f"tiny-facts-v2/{a.model}").base_model))
    print(json.dumps({"model": a.model, "base_model_completes_the_corpus_statement": known}), flush=True)
    with tempfile.TemporaryDirectory(prefix="facts-extraction-") as work:
        for arm in a.arms:
            rows.append(run_arm(arm, a.model, a.steps, a.lr, a.limit, Path(work), a.base_model))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{a.model}, {a.steps} steps of 32 at lr {a.lr:g}; score on {a.limit} items per split")
    print(f"{'arm':18s} {'test':>6s} {'held-out-people':>15s} {'dev-shift':>9s} {'dev':>6s}")
    for r in rows:
        cells = f"{r['test']:6.3f} {r['held-out-people']:15.3f} {r['dev-shift']:9.3f} {r['dev']:6.3f}"
        print(f"{r['arm']:18s} {cells}")
    if a.json:
        a.json.write_text(json.dumps({"recall": known, "rows": rows}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
