"""Integrity checks: each returns a :class:`Verdict` with evidence; a failed check disqualifies.

Every check fails closed: a check that could not look everywhere (a scan cap hit, a judge
reply not understood) returns a verdict that does not pass.

- ``checkpoint``: what grading copies out is a plain checkpoint of the base model's
  architecture (safetensors only, no remote code, sane config, no escaping links);
- ``contamination``: the agent's workspace and training data do not contain the hidden
  test items (n-gram overlap, exact question match);
- ``lineage``: the final weights derive from the base model (shapes, vocabulary,
  weight-distance profile of a fine-tune, not of another model);
- ``judge`` (optional, off by default): an LLM judge's verdict over the trajectory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """The outcome of one integrity check.

    Attributes:
        check: Name of the check (``"checkpoint"``, ``"contamination"``, ``"lineage"``, ``"judge"``).
        passed: ``False`` disqualifies the episode.
        reason: One sentence for people (empty when passed and nothing to say).
        evidence: What the check saw (matching items and files, distances, ...), JSON-serialisable.
    """

    check: str
    passed: bool
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_info(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IntegrityConfig:
    """Which integrity checks grading runs, and what a failure costs.

    The checkpoint checks always run (grading cannot load a checkpoint otherwise).
    """

    contamination: bool = True
    """Scan the workspace and the ``train`` tool's data snapshots against the hidden test split."""
    contamination_config: Any = None
    """An optional ``ptb_env.integrity.contamination.ContaminationConfig``: the scan's thresholds
    and caps (None: its defaults). A cap hit disqualifies: raise the caps for bigger workspaces."""
    lineage: bool = True
    """Check that the final weights derive from the base model."""
    penalty: float = 0.0
    """A disqualified episode's reward is ``-penalty`` (0: graded as the base model, as PostTrainBench)."""
    judge: Any = None
    """An optional ``ptb_env.integrity.judge.JudgeConfig`` (off by default)."""
    judge_disqualifies: bool = False
    """Whether a judge verdict that does not pass (``fail``, or ``unknown``: a reply not understood)
    disqualifies (else it is recorded only)."""


__all__ = ["IntegrityConfig", "Verdict"]
