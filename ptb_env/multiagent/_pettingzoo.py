"""PettingZoo, imported in one place, with the install command when the extra is missing."""

from __future__ import annotations

try:
    from pettingzoo import AECEnv, ParallelEnv
    from pettingzoo.utils.conversions import (
        parallel_to_aec,
        parallel_to_aec_wrapper,
        turn_based_aec_to_parallel,
    )
    from pettingzoo.utils.wrappers import OrderEnforcingWrapper
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        'ptb_env.multiagent.audit and .team need PettingZoo: pip install "ptb-env[multiagent]" '
        '(or pip install "pettingzoo>=1.24").'
    ) from err

__all__ = [
    "AECEnv",
    "OrderEnforcingWrapper",
    "ParallelEnv",
    "parallel_to_aec",
    "parallel_to_aec_wrapper",
    "turn_based_aec_to_parallel",
]
