"""Checkpoint checks: a plain safetensors checkpoint with the base model's architecture.

What a checkpoint may hold: ``config.json`` (the base model's, but for the few keys
that do not change the computation: ``ptb_env.integrity.model_config``; no
``auto_map``, i.e. no remote code), ``*.safetensors`` weights
with the base model's tensor names and shapes, an optional shard index naming
only those files, and tokenizer/template/generation files (replaced by the task's
own at grading). A broken checkpoint raises :class:`CheckpointError` (graded as
the base model); one that breaks the rules -- pickle weights, Python files or
``auto_map`` (remote code) -- raises :class:`CheckpointViolation` (disqualified).
Nothing here unpickles or imports anything from the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptb_env.errors import CheckpointError, CheckpointViolation
from ptb_env.integrity.model_config import compare_configs

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
"""Weight formats that can run code when loaded: never loaded, and their presence disqualifies."""
CODE_SUFFIXES = (".py", ".pyc", ".so")
REMOTE_CODE_KEYS = ("auto_map", "custom_pipelines")
MAX_CONFIG_BYTES = 1 << 20
"""Largest accepted ``config.json``."""


def read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        raise CheckpointError("config.json is missing (save the model with save_pretrained).")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"config.json is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise CheckpointError("config.json must hold a JSON object.")
    return config


def tensor_shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        pickles = [p.name for p in model_dir.glob("*.bin")] + [p.name for p in model_dir.glob("*.pt*")]
        extra = f" (found {', '.join(pickles)}: pickle weights are never loaded)" if pickles else ""
        raise CheckpointError(f"No *.safetensors weights{extra}; save with safe_serialization=True.")
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                for k in st.keys():
                    shapes[k] = tuple(st.get_slice(k).get_shape())
        except Exception as err:  # noqa: BLE001 - any parse failure means a broken file
            raise CheckpointError(f"{f.name} is not a readable safetensors file: {err}") from None
    return shapes


def check_index(model_dir: Path) -> None:
    """The shard index may name only the checkpoint's own (validated) safetensors files.

    transformers loads the files the index names, wherever they are: a path such as
    ``../../other/model.safetensors`` would grade weights the agent never submitted.
    """
    path = model_dir / "model.safetensors.index.json"
    if not path.exists():
        return
    try:
        shards = set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"model.safetensors.index.json is not a valid index: {err!r}") from None
    bad = sorted(
        str(s)
        for s in shards
        if not (
            isinstance(s, str)
            and Path(s).name == s
            and s.endswith(".safetensors")
            and (model_dir / s).is_file()
        )
    )
    if bad:
        raise CheckpointError(
            f"model.safetensors.index.json names files that are not safetensors files of the "
            f"checkpoint: {bad[:3]}"
        )


def vocab(tokenizer_json: Path) -> dict[str, int]:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_json)).get_vocab(with_added_tokens=True)


def check_files(ckpt: Path) -> None:
    """No pickle weights and no code anywhere in the checkpoint.

    Raises:
        CheckpointViolation: A pickle or code file is present (it is never loaded).
    """
    bad = sorted(
        str(p.relative_to(ckpt))
        for p in ckpt.rglob("*")
        if p.suffix.lower() in PICKLE_SUFFIXES + CODE_SUFFIXES and not p.is_dir()
    )
    if bad:
        raise CheckpointViolation(
            f"The checkpoint contains pickle or code files {bad[:5]}: only safetensors weights are "
            "accepted (pickle files can run code when loaded; they are never loaded)."
        )


def check_config(config: dict[str, Any], base: dict[str, Any]) -> None:
    """No remote code, and the base model's config on every key that changes the computation.

    Raises:
        CheckpointViolation: ``auto_map`` or another remote-code field is set.
        CheckpointError: A key differs from the base model's, is added or dropped (beyond
            ``model_config.MAY_DIFFER``); the message names it.
    """
    remote = [k for k in REMOTE_CODE_KEYS if k in config]
    if remote:
        raise CheckpointViolation(
            f"config.json sets {remote[0]!r} (remote code); grading never runs checkpoint code."
        )
    compare_configs(config, base)


def check_checkpoint(ckpt: Path, base_dir: Path, base_config: dict[str, Any], base_shapes: dict) -> None:
    """Every checkpoint check, in order; raises on the first failure.

    Raises:
        CheckpointViolation: The checkpoint breaks the rules (disqualifies).
        CheckpointError: The checkpoint is broken or of another architecture (graded as the base).
    """
    if not ckpt.is_dir() or not any(ckpt.iterdir()):
        raise CheckpointError("final_model/ is empty: no checkpoint was saved.")
    check_files(ckpt)
    if (ckpt / "config.json").is_file() and (ckpt / "config.json").stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"config.json is larger than {MAX_CONFIG_BYTES} bytes.")
    check_config(read_config(ckpt), base_config)
    shapes = tensor_shapes(ckpt)
    if shapes != base_shapes:
        missing = sorted(set(base_shapes) - set(shapes))[:3]
        extra = sorted(set(shapes) - set(base_shapes))[:3]
        wrong = sorted(k for k in set(shapes) & set(base_shapes) if shapes[k] != base_shapes[k])[:3]
        raise CheckpointError(
            "The weights do not match the base model's tensors "
            f"(missing {missing}, unexpected {extra}, other shapes {wrong})."
        )
    check_index(ckpt)
    tok = ckpt / "tokenizer.json"
    if tok.is_file():
        try:
            same = vocab(tok) == vocab(base_dir / "tokenizer.json")
        except Exception as err:  # noqa: BLE001 - an unreadable tokenizer is the checkpoint's fault
            raise CheckpointError(f"tokenizer.json cannot be read: {err}") from None
        if not same:
            raise CheckpointError("tokenizer.json has another vocabulary than the base model's.")
