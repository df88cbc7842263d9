"""Leaderboard: aggregate episode results the way PostTrainBench does.

Input: a directory of results, ``*.json`` files (one result or a list, as
``ptb-env run --json`` writes) and ``*.jsonl`` files (one result per line, or
trajectories whose ``"type": "result"`` line is the result), found
recursively. A result needs ``agent``, ``task`` (``<benchmark>/<model>`` or a
tiny task id), ``status``, ``score`` and ``base_score``. The last line of a
``*.jsonl`` file may be cut (a recording that crashed): it is ignored.

Aggregation (PostTrainBench's rules):

1. a run counts with its test score if its status is ``ok``; a flagged
   (``disqualified``), invalid or failed run counts as the base model's score;
2. seeds of one cell (agent, benchmark, model) are averaged, then the cells of
   one benchmark are averaged over the base models;
3. the overall score is the average over benchmarks weighted by
   1/(instruct - base) (reference values shipped in
   ``ptb_env/tasks/data/ptb_reference.json`` with their source, and for the tiny grid in
   ``tiny_reference.json``, which ``python -m ptb_env.tasks.reference`` makes); the weights are
   renormalised over the benchmarks present, so a 5-benchmark overall is not
   comparable digit for digit with the paper's 7-benchmark one.

>>> r = {"agent": "a", "task": "gsm8k/Qwen3-1.7B-Base", "status": "disqualified", "score": 0.9,
...      "base_score": 0.2}
>>> aggregate([r])["a"]["benchmarks"]["gsm8k"]["score"]
20.0
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REFERENCE_FILE = Path(__file__).resolve().parent / "tasks" / "data" / "ptb_reference.json"
TINY_REFERENCE_FILE = REFERENCE_FILE.with_name("tiny_reference.json")
"""The tiny grid's reference scores (``python -m ptb_env.tasks.reference`` writes it)."""
REQUIRED = ("agent", "task", "status", "score", "base_score")


def load_reference() -> dict[str, Any]:
    """The shipped reference scores and weights (with their source): PostTrainBench's, and the
    tiny grid's where its file is shipped."""
    ref = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    if TINY_REFERENCE_FILE.is_file():
        tiny = json.loads(TINY_REFERENCE_FILE.read_text(encoding="utf-8"))
        ref["benchmarks"] = {**ref["benchmarks"], **tiny["benchmarks"]}
        ref["source"] = f"{ref['source']} Tiny grid: {tiny['source']}"
    return ref


def read_results(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every result under ``runs_dir`` (``*.json`` and ``*.jsonl``, recursively).

    Raises:
        ValueError: A file is not JSON, or a result lacks a field; the message names both.
    """
    rows: list[dict[str, Any]] = []
    root = Path(runs_dir)
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a directory of results (ptb-env run --json writes them).")
    for path in sorted([*root.rglob("*.json"), *root.rglob("*.jsonl")]):
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".jsonl":
                lines = [line for line in text.splitlines() if line.strip()]
                found = [json.loads(line) for line in lines[:-1]]
                try:
                    found += [json.loads(lines[-1])] if lines else []
                except ValueError:  # the last line of a recording cut by a crash mid-write
                    pass
            else:
                data = json.loads(text)
                found = data if isinstance(data, list) else [data]
        except ValueError as err:
            raise ValueError(f"{path}: not JSON ({err}).") from None
        for i, row in enumerate(found):
            if not isinstance(row, Mapping) or row.get("type", "result") != "result":
                continue  # not a result: a trajectory's episode or step line
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                raise ValueError(f"{path}, result {i}: missing {', '.join(missing)}.")
            rows.append(dict(row))
    return rows


def _counted(row: Mapping[str, Any]) -> float:
    """The score a run counts with, in percent: the base model's unless the run is ``ok``."""
    value = row["score"] if row["status"] == "ok" else row["base_score"]
    return 100.0 * float(value)


def _split_task(task: str) -> tuple[str, str]:
    bench, _, model = task.partition("/")
    return bench, model or "-"


def aggregate(results: Iterable[Mapping[str, Any]], reference: Mapping[str, Any] | None = None) -> dict:
    """Per agent: cell scores, per-benchmark averages over models, the weighted overall score.

    Returns ``{agent: {"benchmarks": {bench: {"score", "base", "models", "runs", "flagged"}},
    "overall": float | None, "overall_benchmarks": [...], "weights": {...}}}`` (scores in percent).
    """
    ref = (reference or load_reference())["benchmarks"]
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    bases: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    flagged: dict[tuple[str, str], int] = defaultdict(int)
    for row in results:
        bench, model = _split_task(str(row["task"]))
        cells[row["agent"], bench, model].append(_counted(row))
        bases[row["agent"], bench, model].append(100.0 * float(row["base_score"]))
        flagged[row["agent"], bench] += row["status"] != "ok"
    out: dict[str, Any] = {}
    for agent in sorted({k[0] for k in cells}):
        per: dict[str, Any] = {}
        for bench in sorted({k[1] for k in cells if k[0] == agent}):
            keys = [k for k in cells if k[0] == agent and k[1] == bench]
            means = [sum(cells[k]) / len(cells[k]) for k in keys]
            base = [sum(bases[k]) / len(bases[k]) for k in keys]
            per[bench] = {
                "score": sum(means) / len(means),
                "base": sum(base) / len(base),
                "models": sorted(k[2] for k in keys),
                "runs": sum(len(cells[k]) for k in keys),
                "flagged": flagged[agent, bench],
            }
        weighted = [b for b in per if b in ref]
        total = sum(1.0 / (ref[b]["instruct"] - ref[b]["base"]) for b in weighted)
        weights = {b: 1.0 / (ref[b]["instruct"] - ref[b]["base"]) / total for b in weighted}
        overall = sum(weights[b] * per[b]["score"] for b in weighted) if weighted else None
        out[agent] = {"benchmarks": per, "overall": overall, "weights": weights}
    return out


def format_table(board: Mapping[str, Any]) -> str:
    """The leaderboard as a plain-text table (agents sorted by overall score)."""
    benches = sorted({b for a in board.values() for b in a["benchmarks"]})
    w = max([10, *(len(b) for b in benches)])  # whole names: tiny-arith and tiny-arith-v2 differ
    head = f"{'agent':16s} " + " ".join(f"{b:>{w}s}" for b in benches) + f" {'overall':>8s}"
    lines = [head, "-" * len(head)]
    order = sorted(board, key=lambda a: -math.inf if board[a]["overall"] is None else -board[a]["overall"])
    for agent in order:
        row = board[agent]
        cells = []
        for b in benches:
            cell = row["benchmarks"].get(b)
            cells.append(f"{cell['score']:{w}.1f}" if cell else f"{'-':>{w}s}")
        overall = "-" if row["overall"] is None else f"{row['overall']:.1f}"
        lines.append(f"{agent[:16]:16s} " + " ".join(cells) + f" {overall:>8s}")
    lines.append(
        "scores in %; flagged or failed runs count as the base model; overall weighted by "
        "1/(instruct - base) over the benchmarks present that have reference scores"
    )
    return "\n".join(lines)
