"""Spaces of PostTrain-v0: any-character text, scores that may be NaN, and tool calls.

This module imports nothing from the package: a tool is described to the action
space by its JSON schema (OpenAI function-calling ``parameters``) and an
argument sampler.

>>> import numpy as np
>>> space = ToolCallSpace(
...     {"bash": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
...     {"bash": lambda rng: {"command": "ls"}},
... )
>>> space.contains({"tool": "bash", "args": {"command": "pwd"}})
True
>>> space.contains('{"tool": "bash", "args": {}}')
False
>>> check_call({"tool": "bash", "args": {"command": 3}}, space.schemas)[1]
"Argument 'command' of tool 'bash' must be a string, actually got int: 3."
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import (
    batch_space,
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

MAX_ACTION_CHARS = 1_000_000
"""Longest accepted action (JSON text or the sum of string arguments)."""

_SAMPLE_CHARS = "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789_-.,:;!?/\\\"'{}[]()<>\n\tλé中🙂"
_JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class AnyText(spaces.Text):
    """Text of any unicode characters, up to ``max_length`` of them.

    Gymnasium's ``Text`` accepts only a fixed charset; shell output is arbitrary
    unicode, so :meth:`contains` accepts any ``str`` of the right length.
    :meth:`sample` draws from a small mixed (ASCII and non-ASCII) alphabet.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None) -> None:
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARS, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, AnyText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )


class MaybeScore(spaces.Box):
    """A score in ``[low, high]``, or NaN meaning "none yet" (a float64 array, 0-d by default).

    ``shape`` is for batches: a vector env's observation space holds ``shape=(num_envs,)``.
    """

    def __init__(
        self,
        low: float = 0.0,
        high: float = 1.0,
        seed: int | np.random.Generator | None = None,
        shape: tuple[int, ...] = (),
    ) -> None:
        super().__init__(low=low, high=high, shape=shape, dtype=np.float64, seed=seed)

    def contains(self, x: Any) -> bool:
        if isinstance(x, (float, int)):
            x = np.asarray(x, dtype=np.float64)
        if not isinstance(x, np.ndarray) or x.shape != self.shape or x.dtype != np.float64:
            return False
        with np.errstate(invalid="ignore"):
            return bool(np.all(np.isnan(x) | ((self.low <= x) & (x <= self.high))))

    def __repr__(self) -> str:
        shape = f", shape={self.shape}" if self.shape else ""
        return f"MaybeScore({float(self.low.min())}, {float(self.high.max())}{shape})"


def _show(value: Any) -> str:
    """``repr(value)`` cut to 60 characters; never raises (deep nesting, ints of over 4,300 digits)."""
    try:
        shown = repr(value)
    except (RecursionError, ValueError):
        shown = f"<{type(value).__name__} that cannot be shown>"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _has_type(value: Any, kind: str) -> bool:
    """Whether ``value`` has the JSON schema type ``kind`` (a bool is not a number)."""
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[kind])


def _type_error(tool: str, name: str, expected: str, value: Any) -> str:
    return (
        f"Argument {name!r} of tool {tool!r} must be a{'n' if expected[0] in 'aeiou' else ''} "
        f"{expected}, actually got {type(value).__name__}: {_show(value)}."
    )


def check_args(tool: str, schema: Mapping[str, Any], args: Any) -> str | None:
    """Why ``args`` do not fit a tool's JSON schema (a small subset), or ``None`` when they do.

    Checks: an object; required names present; no unknown names; each value's
    ``type``, ``enum``, ``minimum``/``maximum`` and ``maxLength``; an array's ``maxItems``
    and each of its items against ``items``.
    """
    if not isinstance(args, dict):
        return f"Arguments of tool {tool!r} must be a JSON object, actually got {type(args).__name__}."
    props: Mapping[str, Any] = schema.get("properties", {})
    unknown = sorted(set(args) - set(props), key=str)
    if unknown:
        return (
            f"Tool {tool!r} has no argument {_show(unknown[0])}; its arguments are: "
            f"{', '.join(props) or '(none)'}."
        )
    missing = [n for n in schema.get("required", ()) if n not in args]
    if missing:
        return (
            f"Tool {tool!r} needs the argument {missing[0]!r} ({props[missing[0]].get('description', '')})."
        )
    for name, value in args.items():
        spec = props[name]
        kind = spec.get("type", "string")
        if value is None and spec.get("nullable", False):
            continue
        if not _has_type(value, kind):
            return _type_error(tool, name, kind, value)
        if kind == "string":
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return (
                    f"Argument {name!r} of tool {tool!r} is not valid UTF-8 text (it has a lone surrogate)."
                )
        if isinstance(value, float) and not math.isfinite(value):
            return f"Argument {name!r} of tool {tool!r} must be a finite number, actually got {value}."
        if "enum" in spec and value not in spec["enum"]:
            return (
                f"Argument {name!r} of tool {tool!r} must be one of {spec['enum']}, actually got {value!r}."
            )
        if "minimum" in spec and value < spec["minimum"]:
            return (
                f"Argument {name!r} of tool {tool!r} must be >= {spec['minimum']}, "
                f"actually got {_show(value)}."
            )
        if "maximum" in spec and value > spec["maximum"]:
            return (
                f"Argument {name!r} of tool {tool!r} must be <= {spec['maximum']}, "
                f"actually got {_show(value)}."
            )
        if "maxLength" in spec and len(value) > spec["maxLength"]:
            return (
                f"Argument {name!r} of tool {tool!r} is too long: {len(value):,} characters, "
                f"at most {spec['maxLength']:,}."
            )
        if kind == "array":
            if "maxItems" in spec and len(value) > spec["maxItems"]:
                most = spec["maxItems"]
                return f"Argument {name!r} of tool {tool!r} has {len(value):,} items, at most {most}."
            item_spec = spec.get("items")
            if item_spec:
                for i, item in enumerate(value):
                    key = f"{name}[{i}]"
                    why = check_args(tool, {"properties": {key: item_spec}}, {key: item})
                    if why:
                        return why
    return None


def check_call(action: Any, schemas: Mapping[str, Mapping[str, Any]]) -> tuple[tuple[str, dict] | None, str]:
    """Parse and validate an action: ``((tool, args), "")`` or ``(None, why it is invalid)``.

    An action is ``{"tool": name, "args": {...}}`` as a dict or as a JSON string;
    ``args`` may be omitted for a tool without required arguments.
    """
    if isinstance(action, (bytes, bytearray)):
        try:
            action = action.decode("utf-8")
        except UnicodeDecodeError:
            return None, "The action is bytes that are not UTF-8; send a JSON string or a dict."
    if isinstance(action, str):
        if len(action) > MAX_ACTION_CHARS:
            return None, f"The action is {len(action):,} characters long; the limit is {MAX_ACTION_CHARS:,}."
        try:
            action = json.loads(action)
        except json.JSONDecodeError as err:
            return None, (
                f"The action is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                'send {"tool": "<name>", "args": {...}}.'
            )
        except RecursionError:
            return None, "The action's JSON is nested too deeply."
        except ValueError as err:  # e.g. an integer of more than 4,300 digits
            return None, f"The action's JSON cannot be read: {str(err)[:200]}"
    if not isinstance(action, Mapping):
        return None, (
            f"An action must be a dict or a JSON object string, actually got {type(action).__name__}; "
            'send {"tool": "<name>", "args": {...}}.'
        )
    extra = sorted(set(action) - {"tool", "args"}, key=str)
    if extra:
        return None, f'Unknown key {_show(extra[0])} in the action; an action has only "tool" and "args".'
    tool = action.get("tool")
    if not isinstance(tool, str):
        return None, f'The action needs "tool": one of {", ".join(schemas)}.'
    if tool not in schemas:
        import difflib

        hint = difflib.get_close_matches(tool, list(schemas), n=1)
        maybe = f" Did you mean: {hint[0]!r}?" if hint else ""
        shown = tool if len(tool) <= 60 else tool[:57] + "..."
        return None, f"Unknown tool {shown!r}.{maybe} Tools: {', '.join(schemas)}."
    args = action.get("args", {})
    if args is None:
        args = {}
    why = check_args(tool, schemas[tool], args)
    if why:
        return None, why
    total = sum(len(v) for v in args.values() if isinstance(v, str))
    if total > MAX_ACTION_CHARS:
        return None, f"The arguments are {total:,} characters long; the limit is {MAX_ACTION_CHARS:,}."
    return (tool, dict(args)), ""


class ToolCallSpace(spaces.Space[dict]):
    """Tool calls ``{"tool": name, "args": {...}}`` (a dict, or the same as a JSON string).

    Args:
        schemas: ``{tool name: JSON schema of its arguments}``.
        samplers: ``{tool name: rng -> valid arguments}``; :meth:`sample` picks a tool
            (by ``weights`` when given) and asks its sampler.
        weights: Relative sampling weight of each tool (default: uniform).
    """

    def __init__(
        self,
        schemas: Mapping[str, Mapping[str, Any]],
        samplers: Mapping[str, Callable[[np.random.Generator], dict]],
        weights: Mapping[str, float] | None = None,
        seed: int | None = None,
    ) -> None:
        if set(schemas) != set(samplers):
            raise ValueError(
                f"Expect one sampler per tool, actually got tools {sorted(schemas)} "
                f"and samplers {sorted(samplers)}."
            )
        self.schemas = dict(schemas)
        self.samplers = dict(samplers)
        names = list(self.schemas)
        w = np.array([float((weights or {}).get(n, 1.0)) for n in names])
        self._names, self._p = names, w / w.sum()
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> dict:
        """A valid tool call, drawn with the space's generator."""
        if mask is not None or probability is not None:
            raise NotImplementedError("ToolCallSpace.sample takes no mask or probability.")
        tool = self._names[int(self.np_random.choice(len(self._names), p=self._p))]
        return {"tool": tool, "args": self.samplers[tool](self.np_random)}

    def contains(self, x: Any) -> bool:
        return check_call(x, self.schemas)[0] is not None

    def __repr__(self) -> str:
        return f"ToolCallSpace({', '.join(self._names)})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ToolCallSpace) and other.schemas == self.schemas


# -- vector envs ----------------------------------------------------------------
# ``gymnasium.vector`` batches spaces and moves observations through shared memory with
# single-dispatch functions. Gymnasium's ``Text`` versions store character indices of the
# charset (shell output is not limited to one), and ``AsyncVectorEnv`` reads the shared
# buffer once, at construction, which freezes immutable ``str`` values. AnyText stores
# unicode code points behind a length (one int32 row of ``1 + max_length`` per env) and reads
# them as a live :class:`SharedTexts` view, which the vector env's copy turns into a tuple.
# The action space needs nothing: gymnasium batches any other space as a ``Tuple`` of
# copies, so a batched action is a tuple (or list) of per-env tool calls.


@batch_space.register(MaybeScore)
def _batch_maybe_score(space: MaybeScore, n: int = 1) -> MaybeScore:
    return MaybeScore(
        float(space.low.min()),
        float(space.high.max()),
        seed=deepcopy(space.np_random),
        shape=(n, *space.shape),
    )


class SharedTexts(Sequence[str]):
    """The texts of ``n`` envs in a shared int32 buffer, read on access (a live view).

    ``copy.deepcopy`` and pickling give a plain ``tuple`` of ``str`` (what
    ``AsyncVectorEnv(copy=True)``, the default, returns to the user).
    """

    def __init__(self, rows: np.ndarray) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self)[i]
        row = self._rows[i]
        return row[1 : 1 + row[0]].tobytes().decode("utf-32-le", "surrogatepass")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __reduce__(self) -> tuple[type, tuple[tuple[str, ...]]]:
        return tuple, (tuple(self),)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, (tuple, list, SharedTexts)) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedTexts{tuple(self)!r}"


def _anytext_rows(space: AnyText, shared_memory: Any) -> np.ndarray:
    return np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((-1, space.max_length + 1))


@create_shared_memory.register(AnyText)
def _anytext_shared_memory(space: AnyText, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@read_from_shared_memory.register(AnyText)
def _anytext_read(space: AnyText, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(_anytext_rows(space, shared_memory)[:n])


@write_to_shared_memory.register(AnyText)
def _anytext_write(space: AnyText, index: int, value: str, shared_memory: Any) -> None:
    if not space.contains(value):
        raise ValueError(
            f"Expect a str of at most {space.max_length:,} characters for {space}, actually got "
            f"{type(value).__name__} {_show(value)}."
        )
    codes = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype=np.int32)
    row = _anytext_rows(space, shared_memory)[index]
    row[0] = len(codes)
    row[1 : 1 + len(codes)] = codes
