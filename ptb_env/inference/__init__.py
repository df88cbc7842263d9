"""Evaluation: the one path shared by the agent's dev evaluations and the grader.

Two generation backends give the same greedy completions from the same rendered
prompts: ``transformers`` (in process, or in a jailed child for untrusted checkpoints:
``ptb_env.inference.jail``; the CPU default) and ``vllm`` (a child process; the
default where vLLM and a CUDA GPU are both present).

>>> from ptb_env.inference import evaluate  # doctest: +SKIP
>>> evaluate(TINY_MODEL_DIR, "tiny-arith", "dev", limit=20).score  # doctest: +SKIP
0.0
>>> select_backend("transformers")
'transformers'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ptb_env.benchmarks import Benchmark, Item, get_benchmark
from ptb_env.inference.device import has_gpu, is_vllm_available
from ptb_env.inference.transformers_backend import GenerationSettings

if TYPE_CHECKING:
    from ptb_env.inference.jail import JailLimits
    from ptb_env.inference.vllm_backend import VLLMSettings

Backend = Literal["transformers", "vllm", "auto"]
BACKENDS = ("transformers", "vllm", "auto")


def select_backend(backend: str = "auto") -> Literal["transformers", "vllm"]:
    """The backend to run: ``backend`` itself, or for ``"auto"`` vLLM where vLLM and a GPU are present.

    On a CPU-only machine ``"auto"`` keeps the transformers backend even when the CPU
    build of vLLM is installed: ask for ``"vllm"`` to use it.

    Raises:
        ValueError: ``backend`` is not one of ``BACKENDS``.
        VLLMUnavailable: ``"vllm"`` was asked for and vLLM is not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown inference backend {backend!r}; expected one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "vllm" if is_vllm_available() and has_gpu() else "transformers"
    if backend == "vllm" and not is_vllm_available():
        from ptb_env.inference.vllm_backend import INSTALL_HINT, VLLMUnavailable

        raise VLLMUnavailable(
            f"backend='vllm' needs vLLM, which is not installed. Install it: {INSTALL_HINT}; "
            "or use backend='transformers'."
        )
    return "vllm" if backend == "vllm" else "transformers"


@dataclass
class EvalResult:
    """The result of evaluating a checkpoint on one split.

    Attributes:
        benchmark: benchmark name.
        split: split name.
        score: mean item score in [0, 1] (0 when there are no items).
        n: number of items evaluated.
        records: one dict per item: id, completion, extracted answer, reference, score.
        seconds: wall time of loading, generation and scoring.
        backend: the backend that generated (``"transformers"`` or ``"vllm"``).
        timings: seconds by stage: ``load`` (model or engine start-up, 0 for a passed-in
            model) and ``generate``; a jailed evaluation adds ``jail`` (its start, fork and reply).
        max_new_tokens: the token limit of the completions: the benchmark's, or lower where
            the vLLM backend's fallback ladder stepped down.
    """

    benchmark: str
    split: str
    score: float
    n: int
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    backend: str = "transformers"
    timings: dict[str, float] = field(default_factory=dict)
    max_new_tokens: int = 0


def score_items(bench: Benchmark, items: list[Item], completions: list[str]) -> tuple[float, list[dict]]:
    """Score completions of items; returns the mean score and per-item records."""
    records: list[dict[str, Any]] = []
    scores = bench.score_batch(items, completions)
    for item, completion, score in zip(items, completions, scores, strict=True):
        got = bench.extract(completion)
        records.append(
            {
                "id": item.id,
                "completion": completion,
                "extracted": None if got is None else str(got),
                "reference": item.answer,
                "score": score,
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
    backend: Backend = "auto",
    vllm_settings: VLLMSettings | None = None,
    stop_tokens: tuple[str, ...] = (),
    jail: JailLimits | None = None,
) -> EvalResult:
    """Evaluate a checkpoint on a benchmark split with greedy decoding.

    Args:
        model_dir: HF model directory (safetensors; loaded without remote code).
        benchmark: benchmark name or instance.
        split: ``"dev"`` or ``"test"`` (``"train"`` works too: generated items).
        limit: evaluate only the first ``limit`` items.
        batch_size: prompts per generation batch (transformers; vLLM schedules its own).
        chat_template: template to use instead of the checkpoint's own.
        progress: show a progress bar (transformers).
        model: an already loaded model, passed with its ``tokenizer`` (skips loading
            ``model_dir``). A loaded model pins ``"auto"`` to transformers.
        tokenizer: the tokenizer of ``model``; vLLM uses only the tokenizer.
        backend: ``"transformers"``, ``"vllm"`` or ``"auto"`` (see :func:`select_backend`).
        vllm_settings: engine settings of the vLLM backend (default: per hardware).
        stop_tokens: special tokens that end a reply like EOS (the task template's end of turn).
        jail: load and generate in a child process under these limits (an untrusted
            checkpoint; transformers backend, without ``model``); the vLLM backend, in a child
            already, takes its time limit where ``vllm_settings`` sets none.

    Raises:
        VLLMUnavailable: ``backend="vllm"`` without vLLM installed.
        VLLMEngineError: The vLLM engine failed to start, or to generate at every limit.
        JailError: The jailed child exceeded its memory or time limit, or failed.
    """
    import time

    bench = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    items = bench.items(split, limit=limit)
    stop = bench.stop
    name = "transformers" if backend == "auto" and model is not None else select_backend(backend)
    t0 = time.perf_counter()
    prompts = [it.messages for it in items]
    if name == "vllm":
        from ptb_env.inference import vllm_backend

        if jail is not None:
            vllm_settings = vllm_backend.with_timeout(vllm_settings, jail.timeout_s)
        gen = vllm_backend.generate(
            model_dir, prompts, bench.max_new_tokens, stop=stop, stop_tokens=stop_tokens,
            settings=vllm_settings, chat_template=chat_template, tokenizer=tokenizer,
        )  # fmt: skip
        completions, max_new_tokens = gen.completions, gen.max_tokens
        timings = {"load": gen.startup_s, "generate": gen.generate_s}
    elif jail is not None and model is None:
        from ptb_env.inference import jail as jail_mod

        settings = GenerationSettings(
            max_new_tokens=bench.max_new_tokens, batch_size=batch_size, stop=stop, stop_tokens=stop_tokens
        )
        jailed = jail_mod.generate(model_dir, prompts, settings, jail, chat_template=chat_template)
        completions, max_new_tokens = jailed.completions, bench.max_new_tokens
        timings = {"load": jailed.load_s, "generate": jailed.generate_s, "jail": jailed.overhead_s}
    else:
        from ptb_env.inference import transformers_backend

        if model is None or tokenizer is None:
            model, tokenizer = transformers_backend.load(model_dir, chat_template=chat_template)
        t_load = time.perf_counter() - t0
        settings = GenerationSettings(
            max_new_tokens=bench.max_new_tokens, batch_size=batch_size, stop=stop, stop_tokens=stop_tokens
        )
        completions = transformers_backend.generate(model, tokenizer, prompts, settings, progress)
        max_new_tokens = bench.max_new_tokens
        timings = {"load": t_load, "generate": time.perf_counter() - t0 - t_load}
    score, records = score_items(bench, items, completions)
    seconds = time.perf_counter() - t0
    return EvalResult(bench.name, split, score, len(items), records, seconds, name, timings, max_new_tokens)


__all__ = [
    "BACKENDS",
    "EvalResult",
    "GenerationSettings",
    "evaluate",
    "has_gpu",
    "is_vllm_available",
    "score_items",
    "select_backend",
]
