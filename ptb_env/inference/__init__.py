"""Evaluation: the one path shared by the agent's dev evaluations and the grader.

>>> from ptb_env.inference import evaluate  # doctest: +SKIP
>>> evaluate(TINY_MODEL_DIR, "tiny-arith", "dev", limit=20).score  # doctest: +SKIP
0.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb_env.benchmarks import Benchmark, Item, get_benchmark
from ptb_env.inference.transformers_backend import GenerationSettings


@dataclass
class EvalResult:
    """The result of evaluating a checkpoint on one split.

    Attributes:
        benchmark: benchmark name.
        split: split name.
        score: mean item score in [0, 1] (0 when there are no items).
        n: number of items evaluated.
        records: one dict per item: id, completion, extracted answer, reference, score.
        seconds: wall time of generation and scoring.
    """

    benchmark: str
    split: str
    score: float
    n: int
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def score_items(bench: Benchmark, items: list[Item], completions: list[str]) -> tuple[float, list[dict]]:
    """Score completions of items; returns the mean score and per-item records."""
    records = []
    for item, completion in zip(items, completions, strict=True):
        got = bench.extract(completion)
        records.append(
            {
                "id": item.id,
                "completion": completion,
                "extracted": None if got is None else str(got),
                "reference": item.answer,
                "score": bench.score(item, completion),
            }
        )
    mean = sum(r["score"] for r in records) / len(records) if records else 0.0
    return mean, records


def evaluate(
    model_dir: str | Path,
    benchmark: str | Benchmark,
    split: str,
    limit: int | None = None,
    *,
    batch_size: int = 64,
    chat_template: str | None = None,
    progress: bool = True,
    model: Any = None,
    tokenizer: Any = None,
) -> EvalResult:
    """Evaluate a checkpoint on a benchmark split with greedy decoding.

    Args:
        model_dir: HF model directory (safetensors; loaded without remote code).
        benchmark: benchmark name or instance.
        split: ``"dev"`` or ``"test"`` (``"train"`` works too: generated items).
        limit: evaluate only the first ``limit`` items.
        batch_size: prompts per generation batch.
        chat_template: template to use instead of the checkpoint's own.
        progress: show a progress bar.
        model, tokenizer: an already loaded pair (skips loading ``model_dir``).
    """
    import time

    from ptb_env.inference import transformers_backend as backend

    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    items = bench.items(split, limit=limit)
    t0 = time.perf_counter()
    if model is None or tokenizer is None:
        model, tokenizer = backend.load(model_dir, chat_template=chat_template)
    settings = GenerationSettings(max_new_tokens=bench.max_new_tokens, batch_size=batch_size)
    completions = backend.generate(model, tokenizer, [it.messages for it in items], settings, progress)
    score, records = score_items(bench, items, completions)
    return EvalResult(bench.name, split, score, len(items), records, time.perf_counter() - t0)


__all__ = ["EvalResult", "GenerationSettings", "evaluate", "score_items"]
