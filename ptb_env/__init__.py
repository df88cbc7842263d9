"""ptb_env: LLM post-training as a Gymnasium environment.

The tiny world (a tiny Qwen3-architecture model that the package pre-trains and
ships, synthetic benchmarks with hidden test splits) is the default; the
PostTrainBench suite (real base models and benchmarks) shares the same code path.

Importing the package is cheap: heavy dependencies (torch, transformers) are
imported lazily by the modules that need them.
"""

from ptb_env.errors import (
    BenchmarkNotFound,
    CheckpointError,
    GraderError,
    PtbEnvError,
    TaskNotFound,
)
from ptb_env.registration import register_envs
from ptb_env.tasks import get_task, gym_id, list_tasks

__version__ = "0.1.0"

register_envs()

__all__ = [
    "BenchmarkNotFound",
    "CheckpointError",
    "GraderError",
    "PtbEnvError",
    "TaskNotFound",
    "__version__",
    "get_task",
    "gym_id",
    "list_tasks",
]
