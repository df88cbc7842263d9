"""Spaces of PostTrain-v0: any-unicode text, NaN-able scores, and the validation of tool calls."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ptb_env.spaces import MAX_ACTION_CHARS, AnyText, MaybeScore, ToolCallSpace, check_call
from ptb_env.tools import default_tools

TOOLS = default_tools()
SCHEMAS = {name: t.parameters for name, t in TOOLS.items()}


def tool_space(seed: int | None = None) -> ToolCallSpace:
    """The action space the env builds: every default tool, with its sampler and weight."""
    return ToolCallSpace(
        SCHEMAS,
        {name: t.sample_args for name, t in TOOLS.items()},
        weights={name: t.sample_weight for name, t in TOOLS.items()},
        seed=seed,
    )


def why(action) -> str:
    """The reason ``check_call`` gives for rejecting ``action`` (fails the test if it accepts it)."""
    parsed, reason = check_call(action, SCHEMAS)
    assert parsed is None, f"accepted {action!r:.200}"
    assert reason
    return reason


# -- AnyText -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "plain ascii", "emoji 🙂🚀", "nul \x00 inside", "中文字符 and λ", "\t\n\r\x1b[31m", "x" * 100],
    ids=["empty", "ascii", "emoji", "nul", "cjk", "controls", "at-max"],
)
def test_anytext_accepts_any_unicode_within_length(text):
    assert AnyText(100).contains(text)


@pytest.mark.parametrize(
    "value", [b"bytes", None, 3, ["a"], "x" * 101], ids=["bytes", "none", "int", "list", "too-long"]
)
def test_anytext_rejects_non_str_and_too_long(value):
    assert not AnyText(100).contains(value)


def test_anytext_rejects_shorter_than_min_length():
    assert not AnyText(10, min_length=2).contains("a")


def test_anytext_samples_are_members():
    space = AnyText(50, seed=0)
    assert all(space.contains(space.sample()) for _ in range(200))


# -- MaybeScore ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [np.array(np.nan), np.array(0.0), np.array(0.5), np.array(1.0), 0.25, math.nan],
    ids=["nan", "low", "mid", "high", "python-float", "python-nan"],
)
def test_maybescore_accepts_nan_and_in_range(value):
    assert MaybeScore().contains(value)


@pytest.mark.parametrize(
    "value",
    [
        np.array(1.5),
        np.array(-0.1),
        np.array(np.inf),
        np.array(0.5, dtype=np.float32),
        np.array([0.5]),
        "0.5",
        None,
    ],
    ids=["above", "below", "inf", "float32", "shape-1", "str", "none"],
)
def test_maybescore_rejects_out_of_range_and_wrong_kind(value):
    assert not MaybeScore().contains(value)


# -- check_call: accepted forms -------------------------------------------------


def test_check_call_accepts_a_dict():
    assert check_call({"tool": "bash", "args": {"command": "ls"}}, SCHEMAS) == (
        ("bash", {"command": "ls"}),
        "",
    )


def test_check_call_accepts_a_json_string():
    action = json.dumps({"tool": "read_file", "args": {"path": "TASK.md", "offset": 3}})
    assert check_call(action, SCHEMAS) == (("read_file", {"path": "TASK.md", "offset": 3}), "")


def test_check_call_accepts_utf8_bytes():
    action = json.dumps({"tool": "bash", "args": {"command": "echo λ"}}).encode()
    assert check_call(action, SCHEMAS)[0] == ("bash", {"command": "echo λ"})


@pytest.mark.parametrize(
    "action", [{"tool": "submit"}, '{"tool": "submit"}', {"tool": "submit", "args": None}]
)
def test_check_call_args_may_be_omitted_for_submit(action):
    assert check_call(action, SCHEMAS)[0] == ("submit", {})


def test_check_call_accepts_an_int_for_a_number():
    assert check_call({"tool": "wait", "args": {"seconds": 2}}, SCHEMAS)[0] == ("wait", {"seconds": 2})


def test_check_call_returns_a_copy_of_args():
    args = {"command": "ls"}
    parsed, _ = check_call({"tool": "bash", "args": args}, SCHEMAS)
    parsed[1]["command"] = "changed"
    assert args == {"command": "ls"}


# -- check_call: rejected forms, each with its reason -----------------------------


def test_unknown_tool_suggests_the_closest():
    reason = why({"tool": "bsah", "args": {"command": "ls"}})
    assert "Unknown tool 'bsah'" in reason and "Did you mean: 'bash'?" in reason


def test_unknown_tool_lists_the_tools():
    reason = why({"tool": "zzzzzz"})
    assert "Did you mean" not in reason and "Tools: bash, " in reason


def test_unknown_tool_name_is_cut_in_the_message():
    assert len(why({"tool": "q" * 100_000})) < 1_000


@pytest.mark.parametrize("action", ["ls -la", '{"tool": "bash"', "{'tool': 'bash'}", ""])
def test_bad_json_is_named(action):
    assert why(action).startswith("The action is not valid JSON")


def test_deeply_nested_json_is_named():
    assert why("[" * 100_000 + "]" * 100_000) == "The action's JSON is nested too deeply."


def test_json_integer_beyond_the_int_conversion_limit_is_named():
    action = '{"tool": "bash", "args": {"command": "ls", "timeout": ' + "9" * 5_000 + "}}"
    assert why(action).startswith("The action's JSON cannot be read")


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ('["bash"]', "list"),
        ("42", "int"),
        ('"bash"', "str"),
        ("null", "NoneType"),
        (None, "NoneType"),
        (3.5, "float"),
    ],
)
def test_non_object_is_named(action, kind):
    assert why(action).startswith(f"An action must be a dict or a JSON object string, actually got {kind}")


def test_extra_top_level_key_is_named():
    assert why({"tool": "bash", "args": {"command": "ls"}, "id": 1}).startswith("Unknown key 'id'")


def test_extra_top_level_keys_of_mixed_types_are_named():
    assert why({1: 0, "zz": 0, "tool": "bash"}).startswith("Unknown key 1")


@pytest.mark.parametrize("action", [{"args": {}}, {"tool": 3}, {"tool": None}])
def test_missing_or_non_string_tool_is_named(action):
    assert why(action).startswith('The action needs "tool"')


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"command": "ls", "timeout": True},
            "Argument 'timeout' of tool 'bash' must be a number, actually got bool",
        ),
        (
            {"command": "ls", "timeout": "5"},
            "Argument 'timeout' of tool 'bash' must be a number, actually got str",
        ),
        ({"command": 3}, "Argument 'command' of tool 'bash' must be a string, actually got int: 3."),
        ({"command": None}, "Argument 'command' of tool 'bash' must be a string, actually got NoneType"),
        ({"command": ["ls"]}, "Argument 'command' of tool 'bash' must be a string, actually got list"),
    ],
    ids=["bool-for-number", "str-for-number", "int-for-string", "none-for-string", "list-for-string"],
)
def test_wrong_argument_types_are_named(args, expected):
    assert why({"tool": "bash", "args": args}).startswith(expected)


def test_bool_for_integer_is_named():
    reason = why({"tool": "job_status", "args": {"job_id": True}})
    assert reason.startswith("Argument 'job_id' of tool 'job_status' must be an integer, actually got bool")


def test_float_for_integer_is_named():
    assert "must be an integer, actually got float" in why({"tool": "job_kill", "args": {"job_id": 1.0}})


def test_str_for_boolean_is_named():
    args = {"path": "a", "content": "b", "append": "yes"}
    assert "must be a boolean, actually got str" in why({"tool": "write_file", "args": args})


def test_args_not_an_object_are_named():
    assert (
        why({"tool": "bash", "args": ["ls"]})
        == "Arguments of tool 'bash' must be a JSON object, actually got list."
    )


def test_unknown_argument_is_named():
    reason = why({"tool": "bash", "args": {"command": "ls", "cwd": "/"}})
    assert reason == "Tool 'bash' has no argument 'cwd'; its arguments are: command, timeout."


def test_unknown_arguments_of_mixed_key_types_are_named():
    assert why({"tool": "bash", "args": {"command": "ls", 2: 1, "z": 1}}).startswith(
        "Tool 'bash' has no argument 2"
    )


def test_args_omitted_for_a_tool_with_required_arguments_is_named():
    assert why({"tool": "bash"}).startswith("Tool 'bash' needs the argument 'command'")


def test_missing_required_argument_is_named():
    assert why({"tool": "write_file", "args": {"path": "a.txt"}}).startswith(
        "Tool 'write_file' needs the argument 'content'"
    )


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("bash", {"command": "ls", "timeout": 0.5}, "must be >= 1, actually got 0.5."),
        ("bash", {"command": "ls", "timeout": 36_001}, "must be <= 36000, actually got 36001."),
        ("job_kill", {"job_id": 0}, "must be >= 1, actually got 0."),
        ("read_file", {"path": "a", "offset": -1}, "must be >= 0, actually got -1."),
        ("wait", {"seconds": -0.1}, "must be >= 0, actually got -0.1."),
    ],
)
def test_out_of_range_numbers_are_named(tool, args, expected):
    assert why({"tool": tool, "args": args}).endswith(expected)


def test_huge_integer_for_a_number_is_out_of_range():
    action = '{"tool": "bash", "args": {"command": "ls", "timeout": ' + "9" * 400 + "}}"
    assert "must be <= 36000, actually got 9999" in why(action)


def test_integer_too_long_to_show_is_named():
    reason = why({"tool": "bash", "args": {"command": 10**5_000}})
    assert reason.startswith("Argument 'command' of tool 'bash' must be a string, actually got int")


def test_deeply_nested_argument_is_named():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert "must be a string, actually got list" in why({"tool": "bash", "args": {"command": nested}})


@pytest.mark.parametrize(
    "action",
    [
        {"tool": "wait", "args": {"seconds": math.inf}},
        {"tool": "wait", "args": {"seconds": math.nan}},
        '{"tool": "wait", "args": {"seconds": Infinity}}',
        '{"tool": "wait", "args": {"seconds": NaN}}',
        '{"tool": "wait", "args": {"seconds": 1e400}}',
    ],
    ids=["inf", "nan", "json-infinity", "json-nan", "json-overflow"],
)
def test_non_finite_numbers_are_named(action):
    assert why(action).startswith("Argument 'seconds' of tool 'wait' must be a finite number")


@pytest.mark.parametrize(
    "action",
    [
        {"tool": "bash", "args": {"command": "echo \ud800"}},
        '{"tool": "bash", "args": {"command": "\\udc80"}}',
    ],
)
def test_lone_surrogates_are_named(action):
    assert (
        why(action) == "Argument 'command' of tool 'bash' is not valid UTF-8 text (it has a lone surrogate)."
    )


def test_string_over_max_length_is_named():
    reason = why({"tool": "read_file", "args": {"path": "a" * 4_097}})
    assert reason == "Argument 'path' of tool 'read_file' is too long: 4,097 characters, at most 4,096."


def test_action_text_over_the_limit_is_named():
    action = json.dumps({"tool": "bash", "args": {"command": "x" * MAX_ACTION_CHARS}})
    assert why(action).startswith(f"The action is {len(action):,} characters long; the limit is")


def test_arguments_over_the_limit_together_are_named():
    args = {"path": "p" * 4_000, "content": "c" * (MAX_ACTION_CHARS - 100)}
    assert why({"tool": "write_file", "args": args}).startswith(
        f"The arguments are {MAX_ACTION_CHARS + 3_900:,} characters long"
    )


def test_bytes_that_are_not_utf8_are_named():
    assert why(b'{"tool": "bash", "args": {"command": "\xff"}}').startswith(
        "The action is bytes that are not UTF-8"
    )


# -- ToolCallSpace -------------------------------------------------------------


def test_samples_are_members():
    space = tool_space(seed=0)
    samples = [space.sample() for _ in range(1_000)]
    rejected = [s for s in samples if not space.contains(s)]
    assert not rejected, rejected[:3]


def test_samples_cover_every_tool():
    space = tool_space(seed=0)
    assert {space.sample()["tool"] for _ in range(3_000)} == set(SCHEMAS)


def test_seeding_repeats_the_sequence():
    a, b = tool_space(seed=123), tool_space(seed=123)
    assert [a.sample() for _ in range(200)] == [b.sample() for _ in range(200)]


def test_reseeding_repeats_the_sequence():
    space = tool_space()
    space.seed(7)
    first = [space.sample() for _ in range(100)]
    space.seed(7)
    assert [space.sample() for _ in range(100)] == first


def test_different_seeds_give_different_sequences():
    a, b = tool_space(seed=1), tool_space(seed=2)
    assert [a.sample() for _ in range(100)] != [b.sample() for _ in range(100)]


def test_contains_accepts_the_json_string_form():
    assert tool_space().contains('{"tool": "job_status"}')


def test_sample_refuses_a_mask():
    with pytest.raises(NotImplementedError):
        tool_space(seed=0).sample(mask=1)


def test_one_sampler_per_tool_is_required():
    with pytest.raises(ValueError, match="one sampler per tool"):
        ToolCallSpace(SCHEMAS, {"bash": TOOLS["bash"].sample_args})
