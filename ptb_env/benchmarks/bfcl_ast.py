"""BFCL's AST check of single function calls: parse a reply into calls, match a call to its answer.

Our own code, following the rules of BFCL's checker for the single-call
categories (``simple``, ``multiple``, their ``live_`` and ``exec_`` versions):
exactly one call; the function name equal (``.`` may be written ``_``); no
parameter that the function or the answer lacks; every required parameter
present; every value of the declared type (an int passes where a float is
declared) and among the allowed values, strings compared without case,
whitespace and the punctuation `` ,./-_*^`` (``'`` counts as ``"``), lists and
dicts element by element. Answers are in BFCL's possible-answer form:
``{parameter: [allowed values]}``, ``""`` among the allowed values meaning the
parameter may be left out; a dict value maps each key to its own allowed values.

Replies may hold a JSON object ``{"name", "arguments"}`` (or a list of them),
bare, in ``<tool_call>`` tags or in a code fence, or Python calls
``f(a=1, b="x")`` (parsed with ``ast``, never evaluated); text after a
``</think>`` counts.

>>> parse_calls('<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>')
[('f', {'a': 1})]
>>> parse_calls("f(a=1, b='x')")
[('f', {'a': 1, 'b': 'x'})]
>>> schema = {"properties": {"a": {"type": "float"}, "b": {"type": "string"}}, "required": ["a"]}
>>> match_call(("f", {"a": 1}), "f", {"a": [1.0], "b": ["x", ""]}, schema)
True
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

MAX_REPLY_CHARS = 100_000
"""Replies are parsed up to this length (a 16,000-token reply fits)."""

_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_FENCE = re.compile(r"```[\w+-]*[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PUNCT = re.compile(r"[\s,./\-_*^]")
_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "float": (int, float), "number": (int, float), "string": (str,),
    "boolean": (bool,), "array": (list,), "tuple": (list,), "dict": (dict,), "object": (dict,),
}  # fmt: skip

Call = tuple[str, dict[str, Any]]


def _calls_from_json(obj: Any) -> list[Call] | None:
    objs = obj if isinstance(obj, list) else [obj]
    calls = []
    for o in objs:
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            return None
        args = o.get("arguments", o.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                return None
        if not isinstance(args, dict):
            return None
        calls.append((o["name"], args))
    return calls


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def python_calls(text: str, positional: list[str] | None = None) -> list[Call] | None:
    """Calls in Python syntax, literal arguments only (positional ones named by ``positional``)."""
    try:
        body = ast.parse(text.strip().rstrip(";")).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    nodes: list[ast.expr] = []
    for stmt in body:
        if not isinstance(stmt, ast.Expr):
            return None
        nodes += stmt.value.elts if isinstance(stmt.value, ast.List | ast.Tuple) else [stmt.value]
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call) or (name := _dotted(node.func)) is None:
            return None
        if any(kw.arg is None for kw in node.keywords) or len(node.args) > len(positional or ()):
            return None
        try:
            args = {p: ast.literal_eval(a) for p, a in zip(positional or (), node.args, strict=False)}
            args.update({kw.arg: ast.literal_eval(kw.value) for kw in node.keywords})  # type: ignore[misc]
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            return None
        calls.append((name, args))
    return calls or None


def _parse_segment(text: str) -> list[Call] | None:
    text = text.strip()
    try:
        got = _calls_from_json(json.loads(text))
    except (ValueError, RecursionError):
        got = python_calls(text)
    return got if got is not None else _scan_json(text) or None


def _scan_json(text: str, max_starts: int = 2000) -> list[Call]:
    """Call objects embedded in prose (each outermost ``{...}`` with a ``name``)."""
    decoder, calls, end = json.JSONDecoder(), [], 0
    for i, m in enumerate(re.finditer(r"\{", text)):
        if i >= max_starts:
            break
        if m.start() < end:
            continue
        try:
            obj, end = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        calls += _calls_from_json(obj) or []
    return calls


def parse_calls(reply: str) -> list[Call] | None:
    """The function calls of a reply (see the module doc for the formats), or None if it has none."""
    text = reply.rsplit("</think>", 1)[-1][:MAX_REPLY_CHARS]
    segments = _TOOL_CALL.findall(text) or _FENCE.findall(text)
    if segments:
        calls: list[Call] = []
        for seg in segments:
            got = _parse_segment(seg)
            if got is None:
                return None
            calls += got
        return calls
    return _parse_segment(text)


def normalize(s: str) -> str:
    """BFCL's string standardisation: no whitespace or `` ,./-_*^``, lower case, ``'`` as ``"``."""
    return _PUNCT.sub("", s).lower().replace("'", '"')


def _is(value: Any, types: tuple[type, ...]) -> bool:
    """``isinstance``, except that a bool is no int."""
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _equal(value: Any, expected: Any) -> bool:
    """``value`` equals one allowed value (dicts in answers map keys to lists of allowed values)."""
    if isinstance(expected, str):
        return isinstance(value, str) and normalize(value) == normalize(expected)
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(value, bool) and value == expected
    if isinstance(expected, int | float):
        return isinstance(value, int | float) and value == expected
    if isinstance(expected, list):
        return isinstance(value, list) and len(value) == len(expected) and all(map(_equal, value, expected))
    if isinstance(expected, dict):
        if not isinstance(value, dict) or not set(value) <= set(expected):
            return False
        for key, allowed in expected.items():
            allowed = allowed if isinstance(allowed, list) else [allowed]
            if key in value and not any(_equal(value[key], a) for a in allowed if a != ""):
                return False
            if key not in value and "" not in allowed:
                return False
        return True
    return bool(value == expected)


def _value_ok(value: Any, allowed: list[Any], declared: str | None) -> bool:
    if declared == "tuple" and isinstance(value, tuple):
        value = list(value)
    candidates = [a for a in allowed if a != ""]
    types = _TYPES.get(declared or "")
    if types is not None and not _is(value, types):
        # BFCL lets a value through when the answers themselves are of another type (a "variable")
        if not candidates or any(_is(c, types) for c in candidates) or not _is(value, (type(candidates[0]),)):
            return False
    return any(_equal(value, c) for c in candidates)


def match_call(call: Call, expected: str, allowed: dict[str, list[Any]], schema: dict[str, Any]) -> bool:
    """Whether ``call`` is a correct call of ``expected`` (BFCL's AST check of one call)."""
    name, args = call
    if name not in (expected, expected.replace(".", "_")):
        return False
    props = schema.get("properties") or {}
    if any(p not in props or p not in allowed for p in args):
        return False
    if any(p not in args for p in schema.get("required") or ()):
        return False
    if any(p not in args and "" not in vals for p, vals in allowed.items()):
        return False
    return all(_value_ok(v, allowed[p], props[p].get("type")) for p, v in args.items())


def reference_args(allowed: dict[str, Any]) -> dict[str, Any]:
    """One valid argument set (for the reference reply): the first allowed value of each
    parameter, parameters that may be left out and have no other value left out.
    """
    out = {}
    for param, values in allowed.items():
        values = values if isinstance(values, list) else [values]
        for v in values:
            if v != "":
                out[param] = reference_args(v) if isinstance(v, dict) else v
                break
    return out


def as_answer(value: Any) -> Any:
    """A literal value in the possible-answer form (dict values become lists of allowed values)."""
    if isinstance(value, dict):
        return {k: [as_answer(v)] for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_answer(v) for v in value]
    return value
