import json

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.tools import parse_call

bench = get_benchmark("tiny-tools")
ITEM = next(it for it in bench.items("dev") if json.loads(it.answer)["name"] == "get_weather")
EXPECTED = json.loads(ITEM.answer)
ARGS = EXPECTED["arguments"]


def call(name="get_weather", **args):
    return json.dumps({"name": name, "arguments": args})


@pytest.mark.parametrize(
    "completion",
    [
        ITEM.answer,
        "Sure! " + ITEM.answer + " Done.",
        "```json\n" + ITEM.answer + "\n```",
        "<tool_call>" + ITEM.answer + "</tool_call>",
        call(**{k: v.upper() for k, v in ARGS.items()}),  # strings compare case-insensitively
        "{broken " + ITEM.answer,  # a broken object before the call is skipped
    ],
)
def test_correct_calls(completion):
    assert bench.score(ITEM, completion) == 1.0


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "get_weather(city='x')",
        '{"name": "get_weather", "arguments": {"city": ',  # truncated JSON
        call("get_time", **ARGS),  # wrong function
        call(**{**ARGS, "extra": 1}),  # extra argument
        call(city=ARGS["city"]),  # missing argument
        call(**{**ARGS, "city": "Atlantis"}),  # wrong value
        '{"name": "get_weather", "arguments": "city=Oslo"}',  # arguments not an object
    ],
)
def test_wrong_calls(completion):
    assert bench.score(ITEM, completion) == 0.0


def test_integer_arguments_compare_numerically():
    item = next(it for it in bench.items("dev") if json.loads(it.answer)["name"] == "set_timer")
    minutes = json.loads(item.answer)["arguments"]["minutes"]
    assert bench.score(item, call("set_timer", minutes=minutes)) == 1.0
    assert bench.score(item, call("set_timer", minutes=str(minutes))) == 1.0
    assert bench.score(item, call("set_timer", minutes=minutes + 1)) == 0.0
    assert bench.score(item, call("set_timer", minutes=True)) == 0.0


def test_parse_call_unicode():
    assert parse_call('{"name": "send_message", "arguments": {"to": "Zoë", "text": "héllo ✓"}}') == (
        "send_message",
        {"to": "Zoë", "text": "héllo ✓"},
    )


def test_reference_targets_are_correct():
    for item in bench.generate(300, seed=5):
        assert bench.score(item, item.target) == 1.0
        fn = json.loads(item.answer)["name"]
        assert f'"name": "{fn}"' in item.messages[0]["content"]  # the function is offered
