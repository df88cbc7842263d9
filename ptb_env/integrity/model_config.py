"""A checkpoint's ``config.json`` against the base model's: equal on every key that changes the computation.

Fail closed: a key may differ from the base model's only where it is on
:data:`MAY_DIFFER` (with a value of the expected type); any other key that differs,
is added or is dropped makes the checkpoint invalid (graded as the base model), and
the error names it, nested keys by their dotted path (``rope_parameters.factor``).

Two views are compared, so that neither a transformers version nor an unknown key
can hide a change:

- the *normalised* config: both files read by the installed transformers' config
  class (``CONFIG_MAPPING[model_type].from_dict(...).to_dict()``), the object the
  model is built from. It tells a real change from another spelling of the same
  config (a base model saved by transformers 4 has ``rope_theta`` and ``torch_dtype``
  where transformers 5 writes ``rope_parameters`` and ``dtype``);
- the *raw* file: a key of the checkpoint's file that both files hold must have the
  same value, and one that only the checkpoint's holds must be one the config class
  keeps (so the normalised comparison saw it); a key that transformers consumes
  without keeping (an old spelling, ``attn_implementation``) is refused.

Nothing here imports or runs anything from the checkpoint; transformers parses a
JSON object of at most ``MAX_CONFIG_BYTES`` and nests ``MAX_DEPTH`` levels at most.

>>> base = {"model_type": "qwen3", "hidden_size": 8, "dtype": "float32"}
>>> diff_keys(base, {**base, "dtype": "bfloat16", "rope_parameters": {"factor": 2}})
['rope_parameters']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ptb_env.errors import CheckpointError

MAX_DEPTH = 32
"""Deepest nesting accepted in ``config.json`` (real configs nest 2-3 levels)."""
DTYPES = ("float32", "float16", "bfloat16")
_TOKEN_LIMIT = 1 << 31


def _is_dtype(v: Any) -> bool:
    return v is None or v in DTYPES


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 4096


def _is_token_ids(v: Any) -> bool:
    def one(i: Any) -> bool:
        return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < _TOKEN_LIMIT

    return v is None or one(v) or (isinstance(v, list) and len(v) <= 256 and all(map(one, v)))


MAY_DIFFER: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dtype": (_is_dtype, f"one of {DTYPES} or null"),
    "torch_dtype": (_is_dtype, f"one of {DTYPES} or null"),
    "transformers_version": (_is_str, "a string"),
    "_name_or_path": (_is_str, "a string"),
    "use_cache": (lambda v: isinstance(v, bool), "true or false"),
    "bos_token_id": (_is_token_ids, "a token id, a list of them, or null"),
    "eos_token_id": (_is_token_ids, "a token id, a list of them, or null"),
    "pad_token_id": (_is_token_ids, "a token id, a list of them, or null"),
}
"""Keys (at any depth) that may differ from the base model's, each with its check of the value.

Why each is safe to differ:

- ``dtype`` / ``torch_dtype``: the storage precision. The transformers backend computes
  in float32 whatever it says; vLLM computes in it (``dtype="auto"``), as a checkpoint
  trained in bfloat16 should be. Only the three float types are accepted.
- ``transformers_version``, ``_name_or_path``: metadata, never read to build a model.
- ``use_cache``: both backends generate with the KV cache whatever it says (training
  often saves ``false``).
- ``bos_token_id``, ``eos_token_id``, ``pad_token_id``: names of tokens, not computation.
  The forward pass does not read them (``pad_token_id`` only masks gradients of an
  embedding row); grading replaces ``generation_config.json`` with the task's and always
  stops at the task template's end-of-turn tokens; a different EOS only ends a
  completion elsewhere, within the same token limit. SFT recipes commonly set them.

Everything else -- sizes, RoPE parameters, attention kinds, windows, positions,
quantisation, a new key -- must equal the base model's.
"""


def _depth_ok(value: Any) -> bool:
    """Whether ``value`` nests at most ``MAX_DEPTH`` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


def _same_leaf(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b  # 10000 and 10000.0 are the same RoPE base
    return type(a) is type(b) and a == b


def _diffs(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """``(dotted path, a's value, b's value)`` where ``a`` and ``b`` differ, ``MAY_DIFFER`` keys aside.

    Dicts are compared key by key and lists item by item, at any depth; a key that only
    one side holds has ``_MISSING`` on the other.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k in MAY_DIFFER:
                continue
            if k not in a or k not in b:
                yield sub, a.get(k, _MISSING), b.get(k, _MISSING)
            else:
                yield from _diffs(a[k], b[k], sub)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diffs(x, y, f"{path}[{i}]")
    elif not _same_leaf(a, b):
        yield path, a, b


class _Missing:
    def __repr__(self) -> str:
        return "(not set)"


_MISSING = _Missing()


def diff_keys(base: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Dotted paths of the keys where ``config`` differs from ``base`` (``MAY_DIFFER`` keys aside)."""
    return [p for p, _, _ in _diffs(base, config, "")]


def _allowed_values(config: Any, base: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """``(dotted path, key, value)`` of every ``MAY_DIFFER`` key of ``config`` (at any depth)
    whose value is not the base model's at the same place."""
    if isinstance(config, dict):
        base = base if isinstance(base, dict) else {}
        for k, v in config.items():
            sub = f"{path}.{k}" if path else str(k)
            if k not in MAY_DIFFER:
                yield from _allowed_values(v, base.get(k), sub)
            elif k not in base or not _same_leaf(v, base[k]):
                yield sub, k, v


def normalise(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as the installed transformers' config class reads it (``to_dict()``).

    Raises:
        CheckpointError: No config class for its ``model_type``, or the class refuses it.
    """
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    try:
        cls = CONFIG_MAPPING[model_type]
    except (KeyError, TypeError):
        raise CheckpointError(
            f"config.json has model_type={model_type!r}, which transformers does not know."
        ) from None
    try:
        return cls.from_dict(dict(config)).to_dict()
    except Exception as err:  # noqa: BLE001 - any refusal of the config class is the checkpoint's fault
        raise CheckpointError(
            f"config.json is not a valid {model_type} config: {type(err).__name__}: {err}"
        ) from None


MAX_NAMED = 5
"""Differing keys named in an error (the first ones, by path)."""


def _refuse(diffs: list[tuple[str, Any, Any]]) -> CheckpointError:
    """The error naming ``(path, checkpoint's value, base model's value)`` of the differing keys."""
    named = "; ".join(
        f"{p!r} is {repr(c)[:120]} (the base model's: {repr(b)[:120]})" for p, c, b in diffs[:MAX_NAMED]
    )
    more = f" and {len(diffs) - MAX_NAMED} more" if len(diffs) > MAX_NAMED else ""
    return CheckpointError(
        f"config.json differs from the base model's: {named}{more}. A checkpoint must keep every "
        "config.json key of the base model that changes the computation (only "
        f"{', '.join(sorted(MAY_DIFFER))} may differ)."
    )


def compare_configs(config: dict[str, Any], base: dict[str, Any]) -> None:
    """Refuse a ``config.json`` that differs from the base model's beyond :data:`MAY_DIFFER`.

    Raises:
        CheckpointError: Keys that differ, are added or dropped (named by dotted path), a
            ``MAY_DIFFER`` key with a value of the wrong kind, or a config nested too deep.
    """
    if not _depth_ok(config):
        raise CheckpointError(f"config.json nests deeper than {MAX_DEPTH} levels.")
    for path, key, value in _allowed_values(config, base):
        check, expected = MAY_DIFFER[key]
        if not check(value):
            raise CheckpointError(f"config.json key {path!r} is {repr(value)[:200]}; expected {expected}.")
    if config.get("model_type") != base.get("model_type"):
        raise _refuse([("model_type", config.get("model_type", _MISSING), base.get("model_type", _MISSING))])
    # keys that both files hold: the same values
    diffs = [(p, c, b) for p, b, c in _diffs(base, config, "") if _MISSING not in (b, c)]
    norm, norm_base = normalise(config), normalise(base)
    # keys that only the checkpoint's file holds: the normalised view must keep them
    diffs += [
        (k, config[k], _MISSING) for k in config if k not in base and k not in MAY_DIFFER and k not in norm
    ]
    seen = {p for p, _, _ in diffs}
    diffs += [(p, c, b) for p, b, c in _diffs(norm_base, norm, "") if p not in seen]
    if diffs:
        raise _refuse(sorted(diffs, key=lambda d: d[0]))
