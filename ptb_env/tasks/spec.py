"""TaskSpec: everything that defines one post-training task (model, benchmark, budget, rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptb_env.sandbox.config import SandboxConfig


@dataclass(frozen=True)
class TaskSpec:
    """One post-training task: a base model, a benchmark, a budget and the rules.

    The env, tools, sandbox and grader read only this; they do not know which
    world (tiny or PostTrainBench) a task belongs to.
    """

    id: str
    """Task id, e.g. ``"tiny-arith"`` or ``"gsm8k/Qwen3-1.7B-Base"``."""
    benchmark: str
    """Name of the benchmark in ``ptb_env.benchmarks``."""
    base_model: str
    """The base model: an HF model directory, or a hub model id (``"Qwen/Qwen3-1.7B-Base"``)
    resolved by :func:`ptb_env.tasks.models.resolve_model` (local mirror, hub cache, download)."""
    title: str
    """One line for the task card."""
    goal: str
    """What the agent must achieve, for the task card (a paragraph)."""
    time_limit_s: float | None = 300.0
    """Wall-clock budget of an episode (``None``: unlimited)."""
    compute_tflop: float | None = None
    """Budget of the opt-in compute mode (``gym.make(..., budget="compute")``, see
    :mod:`ptb_env.compute`), in TFLOP; ``None``: the task offers the wall-clock budget only."""
    max_steps: int | None = 200
    """Env steps per episode (``None``: unlimited)."""
    max_dev_evals: int | None = 20
    """Calls of the ``evaluate`` tool per episode (``None``: unlimited)."""
    dev_limit: int = 100
    """Default number of dev items one ``evaluate`` call scores."""
    test_limit: int | None = None
    """Hidden test items that grading scores, the first ``test_limit`` of the split (``None``:
    all, as PostTrainBench does). Fewer make cheaper, noisier rewards, for smoke runs and for
    debugging an RL loop; ``info["grade"]["n"]`` says how many were scored."""
    eval_batch_size: int = 64
    """Prompts per generation batch when grading (part of the score-cache key)."""
    network: bool = False
    """Whether the agent's sandbox may reach the network."""
    memory_mb: int | None = 8192
    """Memory limit of the agent's processes together."""
    world: str = "tiny"
    """``"tiny"`` or ``"ptb"`` (informational: code paths do not branch on it)."""
    hints: tuple[str, ...] = field(default_factory=tuple)
    """Extra lines for the task card (data formats, useful commands)."""
    base_model_revision: str | None = None
    """Hub revision of ``base_model`` (a commit pins it; ``None``: a local directory or ``main``)."""
    chat_template: str | None = None
    """Chat template (a jinja file) that dev evaluation and grading use, whatever the checkpoint
    ships (``None``: the base model's own, which grading also forces)."""
    stop_tokens: tuple[str, ...] = ()
    """Tokens that end a reply besides the model's EOS (the template's end-of-turn marker)."""
    gpus: int = 0
    """GPUs the episode gets (bound into the sandbox when > 0)."""
    dev_split: str = "dev"
    """Split the ``evaluate`` tool scores by default: ``"dev"``, ``"dev-shift"`` (the tiny tasks: a
    dev split with the same kind of shift as test, see :mod:`ptb_env.tiny.shift`), or ``"test"`` for
    the PostTrainBench-faithful variant (the agent's quick checks look at a subset of the test set,
    as in the paper; then ``evaluate`` scores nothing else)."""
    inference_backend: str = "transformers"
    """Generation backend of evaluation: ``"transformers"``, ``"vllm"`` or ``"auto"`` (vLLM when it
    is installed and a GPU is present)."""
    card_rules: tuple[str, ...] = ()
    """Rules of the task card beyond the common ones (e.g. the final model must run here)."""

    def sandbox_config(self) -> SandboxConfig:
        """The agent's sandbox by default: the task's network, memory and GPU settings, the rest
        ``SandboxConfig``'s defaults (the one place this default is made)."""
        from ptb_env.sandbox.config import SandboxConfig

        return SandboxConfig(network=self.network, memory_mb=self.memory_mb, gpu=self.gpus > 0)

    def chat_template_text(self) -> str | None:
        """The text of :attr:`chat_template` (``None`` when the task has none)."""
        return Path(self.chat_template).read_text(encoding="utf-8") if self.chat_template else None

    def __post_init__(self) -> None:
        if not self.id or any(c.isspace() for c in self.id):
            raise ValueError(f"Task id must be a non-empty word, actually got {self.id!r}.")
        if self.test_limit is not None and self.test_limit < 1:
            raise ValueError(f"Expect test_limit >= 1 or None, actually got {self.test_limit}.")
        if self.dev_split not in ("dev", "dev-shift", "test"):
            raise ValueError(
                f"Expect dev_split 'dev', 'dev-shift' or 'test', actually got {self.dev_split!r}."
            )
        if self.inference_backend not in ("transformers", "vllm", "auto"):
            raise ValueError(
                "Expect inference_backend 'transformers', 'vllm' or 'auto', actually got "
                f"{self.inference_backend!r}."
            )
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError(f"Expect time_limit_s > 0 or None, actually got {self.time_limit_s}.")
        if self.compute_tflop is not None and not self.compute_tflop > 0:
            raise ValueError(f"Expect compute_tflop > 0 or None, actually got {self.compute_tflop}.")
