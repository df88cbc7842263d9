"""Base models: where a task's model lives (a directory, a local mirror, the hub cache, the hub).

A task names its base model either as a directory or as a hub id with a
revision. :func:`resolve_model` turns it into a directory:

1. an existing directory is used as is;
2. ``$PTB_ENV_MODELS_DIR/<hub id>`` (a mirror, e.g. written by
   ``hf download Qwen/Qwen3-1.7B-Base --local-dir $PTB_ENV_MODELS_DIR/Qwen/Qwen3-1.7B-Base``);
3. ``huggingface_hub.snapshot_download`` of the weights, config and tokenizer
   files, which reads the hub cache first and, with ``HF_HUB_OFFLINE=1``, only it.

>>> resolve_model(str(TINY_MODEL_DIR)) == TINY_MODEL_DIR
True
"""

from __future__ import annotations

import os
from pathlib import Path

from ptb_env.errors import ModelNotAvailable
from ptb_env.paths import TINY_MODEL_DIR  # noqa: F401 - used by the doctest

MODELS_DIR_ENV = "PTB_ENV_MODELS_DIR"
"""Environment variable naming the root of local model mirrors."""
MODEL_FILES = ("*.json", "*.safetensors", "*.jinja", "tokenizer*", "*.model", "*.txt")
"""What is fetched of a hub model: config, weights, tokenizer (no pickles, no remote code)."""


def is_hub_id(name: str) -> bool:
    """Whether ``name`` looks like a hub id (``owner/name``) rather than a path."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~")) and not os.path.isabs(name)


def resolve_model(name: str, revision: str | None = None) -> Path:
    """The directory of base model ``name`` (a directory or a hub id).

    Raises:
        ModelNotAvailable: It is neither a directory nor a hub id that can be found or fetched.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if not is_hub_id(name):
        raise ModelNotAvailable(f"Base model directory {name!r} does not exist.")
    mirror = os.environ.get(MODELS_DIR_ENV)
    if mirror and (Path(mirror).expanduser() / name).is_dir():
        return (Path(mirror).expanduser() / name).resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, revision=revision, allow_patterns=list(MODEL_FILES))).resolve()
    except Exception as err:  # noqa: BLE001 - offline, gated, unknown id: one answer with the fix
        raise ModelNotAvailable(
            f"Base model {name!r} (revision {revision or 'main'}) is not available here "
            f"({type(err).__name__}: {err}). Download it on a machine with hub access "
            f"(`hf download {name}`; gated models need their terms accepted and HF_TOKEN), or put a "
            f"copy at ${MODELS_DIR_ENV}/{name}."
        ) from err
