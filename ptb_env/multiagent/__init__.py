"""PettingZoo environments over PostTrain-v0: an auditor against a trainer, and a team of trainers.

- :mod:`ptb_env.multiagent.audit`: ``PostTrainAudit`` (AEC). A ``trainer`` plays a normal
  episode; an ``auditor`` then inspects its finished workspace and trajectory with read-only
  tools and says whether it contaminated, substituted or tampered; the grader's exact checks
  are the ground truth.
- :mod:`ptb_env.multiagent.team`: ``PostTrainTeam`` (Parallel). N agents share one workspace,
  one budget and the reward; each acts once per round, the calls run one after another.

Each of the two modules has PettingZoo's constructors: ``env()``, ``raw_env`` and
``parallel_env()``. They need PettingZoo (``pip install "ptb-env[multiagent]"``); the rest of
this package (ground truth, infos) does not, and importing it stays light.

>>> from ptb_env.multiagent import audit, team  # doctest: +SKIP
>>> aec = audit.env(max_steps=30)  # doctest: +SKIP
>>> par = team.parallel_env(roles=("curator", "trainer", "evaluator"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PostTrainAudit": "ptb_env.multiagent.audit",
    "PostTrainTeam": "ptb_env.multiagent.team",
    "audit": "ptb_env.multiagent.audit",
    "team": "ptb_env.multiagent.team",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ptb_env.multiagent' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name in ("audit", "team") else getattr(module, name)


__all__ = ["PostTrainAudit", "PostTrainTeam", "audit", "team"]
