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
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

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
    """A score in ``[low, high]``, or NaN meaning "none yet" (a 0-d float64 array)."""

    def __init__(self, low: float = 0.0, high: float = 1.0, seed: int | None = None) -> None:
        super().__init__(low=low, high=high, shape=(), dtype=np.float64, seed=seed)

    def contains(self, x: Any) -> bool:
        if isinstance(x, (float, int)):
            x = np.asarray(x, dtype=np.float64)
        if not isinstance(x, np.ndarray) or x.shape != () or x.dtype != np.float64:
            return False
        return bool(np.isnan(x)) or bool(self.low <= x <= self.high)

    def __repr__(self) -> str:
        return f"MaybeScore({float(self.low)}, {float(self.high)})"


def _show(value: Any) -> str:
    """``repr(value)`` cut to 60 characters; never raises (deep nesting, ints of over 4,300 digits)."""
    try:
        shown = repr(value)
    except (RecursionError, ValueError):
        shown = f"<{type(value).__name__} that cannot be shown>"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _type_error(tool: str, name: str, expected: str, value: Any) -> str:
    return (
        f"Argument {name!r} of tool {tool!r} must be a{'n' if expected[0] in 'aeiou' else ''} "
        f"{expected}, actually got {type(value).__name__}: {_show(value)}."
    )


def check_args(tool: str, schema: Mapping[str, Any], args: Any) -> str | None:
    """Why ``args`` do not fit a tool's JSON schema (a small subset), or ``None`` when they do.

    Checks: an object; required names present; no unknown names; each value's
    ``type``, ``enum``, ``minimum``/``maximum`` and ``maxLength``.
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
        if not isinstance(value, _JSON_TYPES[kind]) or (
            kind in ("integer", "number") and isinstance(value, bool)
        ):
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
