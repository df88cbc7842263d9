"""The PostTrainBench suite: 4 base models x 5 benchmarks, GPU budgets, forced chat templates.

Task ids are ``<benchmark>/<model>``, e.g. ``gsm8k/Qwen3-1.7B-Base``; Gymnasium ids
``PostTrain-gsm8k-Qwen3-1.7B-Base-v0``. :func:`ptb_task` builds a variant (budget,
GPUs, network, the PostTrainBench-faithful dev split) of any cell of the grid.

>>> get = {t.id: t for t in PTB_TASKS}
>>> t = get["gsm8k/Qwen3-1.7B-Base"]
>>> t.base_model, t.time_limit_s / 3600, Path(t.chat_template).name
('Qwen/Qwen3-1.7B-Base', 10.0, 'qwen3.jinja')
>>> ptb_task("bfcl", "gemma-3-4b-pt", hours=1, faithful=True).dev_split
'test'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptb_env.tasks.spec import TaskSpec

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class BaseModel:
    """A base model of the suite.

    Attributes:
        name: Short name used in task ids (``"Qwen3-1.7B-Base"``).
        hub_id: Hugging Face model id.
        family: Chat-template family (``qwen3``, ``smollm3``, ``gemma3``): the template at
            ``ptb_env/tasks/templates/<family>.jinja`` that grading forces.
        revision: Hub revision; ``"main"`` until a run pins a commit (pass ``revision=`` to
            :func:`ptb_task` for reproducible runs).
    """

    name: str
    hub_id: str
    family: str
    revision: str = "main"


PTB_MODELS = (
    BaseModel("Qwen3-1.7B-Base", "Qwen/Qwen3-1.7B-Base", "qwen3"),
    BaseModel("Qwen3-4B-Base", "Qwen/Qwen3-4B-Base", "qwen3"),
    BaseModel("SmolLM3-3B-Base", "HuggingFaceTB/SmolLM3-3B-Base", "smollm3"),
    BaseModel("gemma-3-4b-pt", "google/gemma-3-4b-pt", "gemma3"),
)
STOP_TOKENS = {"qwen3": ("<|im_end|>",), "smollm3": ("<|im_end|>",), "gemma3": ("<end_of_turn>",)}
"""The end-of-turn marker of each template family: generation stops there as at EOS."""


@dataclass(frozen=True)
class BenchmarkInfo:
    """What a task card says about a benchmark, and PostTrainBench's dev-check size.

    Attributes:
        title: Human name.
        skill: What it measures (one phrase).
        dev_limit: Items one ``evaluate`` call scores by default (PostTrainBench's ``--limit``
            defaults: GSM8K 150, HumanEval 150, GPQA 50, AIME and BFCL in full).
    """

    title: str
    skill: str
    dev_limit: int


FULL = 100_000
PTB_BENCHMARK_INFO = {
    "aime2025": BenchmarkInfo("AIME 2025", "competition math, integer answers", FULL),
    "bfcl": BenchmarkInfo("BFCL", "function calling: one call with the right name and arguments", FULL),
    "gpqa-main": BenchmarkInfo("GPQA (main)", "graduate-level multiple choice science questions", 50),
    "gsm8k": BenchmarkInfo("GSM8K", "grade-school math word problems, numeric answers", 150),
    "humaneval": BenchmarkInfo("HumanEval", "Python functions from docstrings, pass@1", 150),
}

CARD_RULES = (
    "Do not modify the evaluation: grading re-runs its own pristine copy on the hidden test split.",
    "The final model must run in this environment: the installed transformers/vLLM, no custom code.",
    "Check the time left with `timer`; the episode is graded when it runs out.",
)


def ptb_task(
    benchmark: str,
    model: str,
    *,
    hours: float = 10.0,
    gpus: int = 1,
    network: bool = True,
    faithful: bool = False,
    revision: str | None = None,
    base_model: str | None = None,
) -> TaskSpec:
    """One cell of the PostTrainBench grid.

    Args:
        benchmark: A key of :data:`PTB_BENCHMARK_INFO` (``"gsm8k"``).
        model: A :data:`PTB_MODELS` name (``"Qwen3-1.7B-Base"``).
        hours: Wall-clock budget (10 h in the paper; 1 h and 5 h variants were run).
        gpus: GPUs bound into the sandbox.
        network: Whether the agent's sandbox reaches the network (open in the paper).
        faithful: PostTrainBench-faithful dev checks: ``evaluate`` scores a subset of the test
            split, as the paper's ``evaluate.py --limit`` did (off by default: a dev split).
        revision: Pin the model's hub revision.
        base_model: A local directory to use instead of the hub model (same family).
    """
    info = PTB_BENCHMARK_INFO[benchmark]
    spec = {m.name: m for m in PTB_MODELS}[model]
    return TaskSpec(
        id=f"{benchmark}/{model}" + ("" if hours == 10.0 else f"-{hours:g}h"),
        benchmark=benchmark,
        base_model=base_model or spec.hub_id,
        base_model_revision=None if base_model else (revision or spec.revision),
        title=f"post-train {model} for {info.title}",
        goal=(
            f"Post-train the base model {spec.hub_id} so that it scores as high as possible on "
            f"{info.title} ({info.skill}). It is a base model: it was pre-trained only, not "
            "instruction-tuned. Your score is the benchmark accuracy of `final_model/` on the "
            "benchmark's test set, graded with the task's chat template after you submit, minus "
            "the base model's."
        ),
        time_limit_s=hours * 3600.0,
        max_steps=None,
        max_dev_evals=None,
        dev_limit=info.dev_limit,
        eval_batch_size=256,
        network=network,
        memory_mb=None,
        world="ptb",
        hints=(
            "The dev split (not the test split) is in `data/"
            f"{benchmark}-dev.jsonl`; use `evaluate` for dev scores with the grader's settings."
            if not faithful
            else "`evaluate` scores a subset of the test split (PostTrainBench-faithful mode); "
            "training on test items still disqualifies.",
            "Grading and `evaluate` prompt with the chat template in `data/chat_template.jinja` "
            "(the checkpoint's own template is ignored); replies end at "
            + " or ".join(f"`{t}`" for t in STOP_TOKENS[spec.family])
            + ".",
        ),
        chat_template=str(TEMPLATES_DIR / f"{spec.family}.jinja"),
        stop_tokens=STOP_TOKENS[spec.family],
        gpus=gpus,
        dev_split="test" if faithful else "dev",
        inference_backend="auto",
        card_rules=CARD_RULES,
    )


PTB_TASKS = tuple(ptb_task(b, m.name) for b in sorted(PTB_BENCHMARK_INFO) for m in PTB_MODELS)
"""The 4 x 5 grid with the paper's settings (10 h, one GPU, network open)."""
