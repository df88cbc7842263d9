import json
import re

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


v2 = get_benchmark("tiny-tools-v2")


def test_v2_tests_a_harder_structure_than_its_generator_draws_by_default():
    default = v2.generate(400, seed=0)
    assert {it.meta["n_candidates"] for it in default} == {2, 3}
    assert not any(it.meta.get("chatter") for it in default)
    for split in ("dev-shift", "test"):
        items = v2.items(split)
        assert {it.meta["n_candidates"] for it in items} == {4, 5, 6}
        assert 0.4 < sum(it.meta["chatter"] for it in items) / len(items) < 0.6
        for it in items:
            assert v2.score(it, it.target) == 1.0
            assert len(it.messages[0]["content"].splitlines()) == it.meta["n_candidates"] + 1  # + the format


def test_v2_chatter_never_repeats_an_argument_value():
    from ptb_env.tiny.phrasing import TOOLS_CHATTER

    items = v2.generate(400, seed=2, candidates="2-6", chatter=1.0)
    assert {it.meta["n_candidates"] for it in items} == {2, 3, 4, 5, 6}
    prefixes = [max(re.split(r"\{\w+\}", t), key=len) for t in TOOLS_CHATTER]  # the longest literal part
    for it in items:
        request = it.messages[1]["content"]
        args = json.loads(it.answer)["arguments"]
        assert any(p in request for p in prefixes), request
        for value in map(str, args.values()):  # each argument's value is said once, by the request
            assert request.count(value) == 1 or value.isdigit(), (value, request)
        assert v2.score(it, it.target) == 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"candidates": "0-3"}, "1 <= low <= high"),
        ({"candidates": "2-13"}, "at most 12 candidates"),
        ({"chatter": "x"}, "probability"),
        ({"ops": 3}, "no option 'ops'; options: candidates, chatter"),
    ],
)
def test_v2_bad_generator_options_say_what_is_wrong(options, message):
    with pytest.raises(ValueError, match=message):
        v2.generate(5, seed=0, **options)


def test_v2_test_items_never_occur_in_train_drawn_with_every_option():
    train = {it.messages[-1]["content"] for it in v2.generate(20000, seed=0, candidates="2-6", chatter=0.5)}
    assert not train & {it.messages[-1]["content"] for it in v2.items("test")}
