"""TaskSpec: everything that defines one post-training task (model, benchmark, budget, rules)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """Directory of the base model (an HF model directory)."""
    title: str
    """One line for the task card."""
    goal: str
    """What the agent must achieve, for the task card (a paragraph)."""
    time_limit_s: float | None = 300.0
    """Wall-clock budget of an episode (``None``: unlimited)."""
    max_steps: int | None = 200
    """Env steps per episode (``None``: unlimited)."""
    max_dev_evals: int | None = 20
    """Calls of the ``evaluate`` tool per episode (``None``: unlimited)."""
    dev_limit: int = 100
    """Default number of dev items one ``evaluate`` call scores."""
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

    def __post_init__(self) -> None:
        if not self.id or any(c.isspace() for c in self.id):
            raise ValueError(f"Task id must be a non-empty word, actually got {self.id!r}.")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError(f"Expect time_limit_s > 0 or None, actually got {self.time_limit_s}.")
