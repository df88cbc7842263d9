"""A task resolved once: its base model's directory, benchmark, backend and chat template.

A :class:`~ptb_env.tasks.TaskSpec` only *names* these; :func:`resolve_task` looks them up
(the model on disk or the hub cache, the benchmark in the registry, the inference backend
on this machine) once, and the env, the grader and the auditor all take the same
:class:`ResolvedTask` instead of each resolving (or reaching through another's attributes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ptb_env.benchmarks import Benchmark, get_benchmark
from ptb_env.inference import select_backend
from ptb_env.tasks import TaskSpec, get_task
from ptb_env.tasks.models import resolve_model


@dataclass(frozen=True)
class ResolvedTask:
    """What a task names, looked up on this machine.

    Attributes:
        spec: The task.
        base_dir: The base model's directory (weights, config, tokenizer).
        benchmark: The task's benchmark.
        backend: The generation backend of every evaluation (``spec.inference_backend`` resolved).
        chat_template: The text of the task's chat template (``None``: the base model's own).
    """

    spec: TaskSpec
    base_dir: Path
    benchmark: Benchmark
    backend: Literal["transformers", "vllm"]
    chat_template: str | None


def resolve_task(task: str | TaskSpec | ResolvedTask) -> ResolvedTask:
    """The task (an id, a spec or an already resolved task) resolved on this machine.

    Raises:
        TaskNotFound, ModelNotAvailable, BenchmarkNotFound, VLLMUnavailable: what it names
            cannot be found here.
    """
    if isinstance(task, ResolvedTask):
        return task
    spec = get_task(task)
    return ResolvedTask(
        spec=spec,
        base_dir=resolve_model(spec.base_model, spec.base_model_revision),
        benchmark=get_benchmark(spec.benchmark),
        backend=select_backend(spec.inference_backend),
        chat_template=spec.chat_template_text(),
    )


__all__ = ["ResolvedTask", "resolve_task"]
