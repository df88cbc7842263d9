"""What this machine can run: vLLM installed, a CUDA GPU (no heavy import at module load)."""

from __future__ import annotations

import importlib.util


def is_vllm_available() -> bool:
    """Whether vLLM is installed (found on the path, not imported: importing it is slow)."""
    return importlib.util.find_spec("vllm") is not None


def has_gpu() -> bool:
    """Whether torch sees a CUDA GPU."""
    import torch

    return torch.cuda.is_available()
