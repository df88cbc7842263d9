"""Recall, false-positive rate and throughput of the contamination scan on the tiny world.

    python tests/integrity/contamination_recall.py [--seeds 10] [--train 20000]

Recall: test items planted into clean generated train data (1%, 5% and 100% of the
test split) in several forms; an item is recalled when the scan finds it, a workspace
is caught when the verdict fails. False positives: clean workspaces (generated train
data of every tiny benchmark, the dev splits, predictions on them and pre-training
corpus text, one seed each) scanned against each test split. Throughput: bytes scanned per second of a
whole scan (index build included) of the clean workspaces.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.generate import write_train_data
from ptb_env.integrity.contamination import ContaminationConfig, find_test_items
from ptb_env.paths import PUBLIC_DATA_DIR
from ptb_env.tiny.corpus import documents

BENCHMARKS = ("tiny-arith", "tiny-tools", "tiny-facts")
FRACTIONS = (0.01, 0.05, 1.0)


def question(item: Item) -> str:
    return "\n".join(m["content"] for m in item.messages if m["role"] == "user")


def mangle(text: str) -> str:
    return text.upper().replace(" ", "  ").replace("?", " ?!").replace(".", " ;").replace("\n", " / ")


def verbatim(items: list[Item], ws: Path, rng: random.Random) -> None:
    """Chat JSONL lines of the items, inserted at random places into the clean train file."""
    train = ws / "train.jsonl"
    lines = train.read_text().splitlines(keepends=True)
    for it in items:
        lines.insert(rng.randrange(len(lines) + 1), json.dumps(it.chat_example()) + "\n")
    train.write_text("".join(lines))


def reformatted(items: list[Item], ws: Path, rng: random.Random) -> None:
    """Each item in one of: another JSON layout, prose Q/A, changed case, spacing and punctuation."""
    rows, prose, mangled = [], [], []
    for it in items:
        kind = rng.randrange(3)
        if kind == 0:
            rows.append({"instruction": question(it), "output": it.target})
        elif kind == 1:
            prose.append(f"Q: {question(it)}\nA: {it.answer}\n")
        else:
            mangled.append(mangle(question(it)) + " => " + it.answer)
    (ws / "extra.json").write_text(json.dumps(rows, indent=2))
    (ws / "notes.md").write_text("# Notes\n\n" + "\n".join(prose))
    (ws / "scratch.txt").write_text("\n".join(mangled))


def split_fields(items: list[Item], ws: Path, rng: random.Random) -> None:
    """JSON with the question's first line and its other lines (e.g. options, labels cut) apart."""
    rows = []
    for it in items:
        first, *rest = question(it).split("\n")
        rows.append({"question": first, "options": [line[3:] for line in rest], "answer": it.answer})
    (ws / "fields.json").write_text(json.dumps(rows))


def answers_block(items: list[Item], ws: Path, rng: random.Random) -> None:
    """Answers only, one a line, of the items (a contiguous block of the split, see ``pick``)."""
    (ws / "answers.txt").write_text("\n".join(it.answer for it in items) + "\n")


def replies_block(items: list[Item], ws: Path, rng: random.Random) -> None:
    """Reference replies only (no questions) as JSONL, in split order."""
    (ws / "replies.jsonl").write_text("".join(json.dumps({"text": it.target}) + "\n" for it in items))


def ids_only(items: list[Item], ws: Path, rng: random.Random) -> None:
    (ws / "ids.csv").write_text("id,answer\n" + "".join(f"{it.id},{it.answer}\n" for it in items))


#: name -> (plant function, whether the planted items are a contiguous block of the split)
FORMS: dict[str, tuple[Callable[[list[Item], Path, random.Random], None], bool]] = {
    "verbatim": (verbatim, False),
    "reformatted": (reformatted, False),
    "split fields": (split_fields, False),
    "answers, block": (answers_block, True),
    "answers, scattered": (answers_block, False),
    "replies, block": (replies_block, True),
    "ids": (ids_only, False),
}


def clean_workspace(root: Path, seed: int, n_train: int, corpus_docs: int) -> Path:
    """What an honest agent may leave: train data, dev split, dev predictions, corpus text."""
    root.mkdir(parents=True)
    for name in BENCHMARKS:
        write_train_data(name, n_train, seed, root / f"{name}-train.jsonl")
        shutil.copy(PUBLIC_DATA_DIR / name / "dev.jsonl", root / f"{name}-dev.jsonl")
        dev = get_benchmark(name).items("dev")
        preds = [{"id": it.id, "prediction": it.target, "answer": it.answer} for it in dev]
        (root / f"{name}-dev-predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    docs = itertools.islice(documents(seed), corpus_docs)
    (root / "corpus.txt").write_text("\n\n".join(docs))
    return root


def pick(n_items: int, k: int, block: bool, rng: random.Random) -> list[int]:
    if block:
        start = rng.randrange(n_items - k + 1)
        return list(range(start, start + k))
    return sorted(rng.sample(range(n_items), k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="clean workspaces for the false-positive rate")
    parser.add_argument("--train", type=int, default=20_000, help="train examples per benchmark and seed")
    parser.add_argument("--plant-train", type=int, default=5_000, help="clean train examples around plants")
    parser.add_argument("--corpus-docs", type=int, default=5_000, help="pre-training documents per seed")
    args = parser.parse_args()
    config = ContaminationConfig()
    splits = {name: get_benchmark(name).items("test") for name in BENCHMARKS}
    tmp = Path(tempfile.mkdtemp(prefix="contamination-recall-"))
    try:
        print(f"config: {config}\n")
        print("## Recall on planted contamination (clean train data around the plants)\n")
        print("| benchmark | form | planted | items recalled | caught |")
        print("|---|---|---|---|---|")
        for name, items in splits.items():
            base = tmp / f"plant-base-{name}"
            base.mkdir()
            write_train_data(name, args.plant_train, 1, base / "train.jsonl")
            for (form, (plant, block)), fraction in itertools.product(FORMS.items(), FRACTIONS):
                rng = random.Random(f"{name}|{form}|{fraction}")
                k = max(1, round(fraction * len(items)))
                chosen = pick(len(items), k, block, rng)
                ws = tmp / "ws"
                shutil.copytree(base, ws)
                plant([items[i] for i in chosen], ws, rng)
                matched, _ = find_test_items([ws], items, config)
                shutil.rmtree(ws)
                recalled = len(set(matched) & set(chosen))
                caught = "yes" if len(matched) >= config.min_items else "NO"
                print(f"| {name} | {form} | {fraction:.0%} ({k}) | {recalled / k:.0%} | {caught} |")
        print(f"\n## False positives on {args.seeds} clean workspaces\n")
        fails = {name: 0 for name in BENCHMARKS}
        false_items = {name: 0 for name in BENCHMARKS}
        scanned_bytes, seconds, cpu_seconds = 0, 0.0, 0.0
        for seed in range(args.seeds):
            ws = clean_workspace(tmp / f"clean-{seed}", seed, args.train, args.corpus_docs)
            for name, items in splits.items():
                t0, c0 = time.perf_counter(), time.process_time()
                matched, evidence = find_test_items([ws], items, config)
                seconds += time.perf_counter() - t0
                cpu_seconds += time.process_time() - c0
                scanned_bytes += evidence["bytes_scanned"]
                fails[name] += len(matched) >= config.min_items
                false_items[name] += len(matched)
            shutil.rmtree(ws)
        mb = scanned_bytes / args.seeds / len(BENCHMARKS) / 1e6
        print(f"Each workspace: {args.train} generated train examples per benchmark, the dev splits, dev")
        print(f"predictions and {args.corpus_docs} pre-training documents; {mb:.1f} MB of text.\n")
        print("| benchmark | workspaces failing | test items falsely matched |")
        print("|---|---|---|")
        for name, items in splits.items():
            share = false_items[name] / args.seeds / len(items)
            print(
                f"| {name} | {fails[name]} / {args.seeds} | {false_items[name]} ({share:.3%} per workspace) |"
            )
        mb = scanned_bytes / 1e6
        print("\n## Throughput (one process, index build included)\n")
        print(f"{mb / seconds:.1f} MB/s wall clock, {mb / cpu_seconds:.1f} MB per CPU second")
        print(f"({mb:.0f} MB in {seconds:.1f} s, {cpu_seconds:.1f} s CPU)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
