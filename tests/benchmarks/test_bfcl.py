"""BFCL: loading the fixture mirror (real file names and formats) and the AST check of replies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.bfcl import BFCL
from ptb_env.benchmarks.bfcl_ast import normalize, parse_calls
from ptb_env.errors import SplitNotAvailable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
bench = BFCL(data_dir=FIXTURES)
TEST = {it.id: it for it in bench.items("test")}
DEV = {it.id: it for it in bench.items("dev")}
INTEREST = TEST["exec_simple_0"]  # calculate_compound_interest(principal=2500, rate=0.04, years=6)
ARGS = {"principal": 2500, "rate": 0.04, "years": 6}


def call(name: str = "calculate_compound_interest", **args: object) -> str:
    return json.dumps({"name": name, "arguments": args})


def test_registry_builds_it_without_arguments():
    b = get_benchmark("bfcl")
    assert (b.name, b.max_new_tokens, b.splits) == ("bfcl", 16000, ("dev", "test"))


def test_splits_load_from_the_mirror():
    assert list(TEST) == [f"exec_simple_{i}" for i in range(4)]
    assert list(DEV) == ["live_simple_0-0-0", "live_simple_1-1-0", "live_simple_2-2-0"]
    simple = BFCL(data_dir=FIXTURES, test_categories=("simple", "multiple"))
    assert [it.id for it in simple.items("test")] == ["simple_0", "simple_1", "multiple_0"]


def test_prompt_is_a_system_turn_with_the_functions_then_the_request():
    system, user = INTEREST.messages
    assert system["role"] == "system" and "<tool_call>" in system["content"]
    assert '"name": "calculate_compound_interest"' in system["content"]
    assert user == {"role": "user", "content": INTEREST.messages[1]["content"]} and "2500" in user["content"]
    # a system message of the question joins ours: one system turn, first
    roles = [m["role"] for m in DEV["live_simple_1-1-0"].messages]
    assert (
        roles == ["system", "user"] and "travel assistant" in DEV["live_simple_1-1-0"].messages[0]["content"]
    )


def test_answer_is_the_canonical_ground_truth():
    assert json.loads(INTEREST.answer) == [
        {
            "calculate_compound_interest": {
                "principal": [2500],
                "rate": [0.04],
                "years": [6],
                "compounds_per_year": [""],
            }
        }
    ]
    assert json.loads(DEV["live_simple_2-2-0"].answer) == [{"set_timer": {"minutes": [10]}}]


@pytest.mark.parametrize("categories", [("exec_simple",), ("live_simple",), ("simple", "multiple")])
def test_every_target_scores_one(categories):
    b = BFCL(data_dir=FIXTURES, test_categories=categories)
    items = b.items("test")
    assert items and [b.score(it, it.target) for it in items] == [1.0] * len(items)


@pytest.mark.parametrize(
    "reply",
    [
        call(**ARGS),
        f"<tool_call>\n{call(**ARGS)}\n</tool_call>",
        f"<tool_call>{call(**ARGS)}",  # closing tag cut off
        f"[{call(**ARGS)}]",  # a one-element list
        f"```json\n{call(**ARGS)}\n```",
        f"Sure, I will compute that.\n{call(**ARGS)}",  # prose around the object
        "calculate_compound_interest(principal=2500, rate=0.04, years=6)",  # Python call syntax
        "[calculate_compound_interest(principal=2500, rate=0.04, years=6)]",
        json.dumps(
            {"name": "calculate_compound_interest", "arguments": json.dumps(ARGS)}
        ),  # arguments as text
        json.dumps({"name": "calculate_compound_interest", "parameters": ARGS}),
        f"<think>They want interest.</think>\n<tool_call>{call(**ARGS)}</tool_call>",
    ],
)
def test_accepted_formats(reply):
    assert bench.score(INTEREST, reply) == 1.0


@pytest.mark.parametrize(
    "reply",
    [
        call("calculate_simple_interest", **ARGS),  # wrong name
        call(principal=2500, rate=0.04),  # missing required parameter
        call(**ARGS, currency="USD"),  # unknown parameter
        call(**ARGS, compounds_per_year=1),  # a parameter the answer leaves out
        call(**{**ARGS, "years": "6"}),  # wrong type: text for an integer
        call(**{**ARGS, "principal": 2500.0}),  # wrong type: float for an integer
        call(**{**ARGS, "years": True}),  # a bool is no integer
        call(**{**ARGS, "rate": 0.05}),  # wrong value
        call(**ARGS) + "\n" + call(**ARGS),  # two calls
        "calculate_compound_interest(2500, 0.04, 6)",  # positional arguments
    ],
)
def test_wrong_calls_score_zero(reply):
    assert bench.score(INTEREST, reply) == 0.0


def test_int_is_accepted_where_a_float_is_declared():
    item = TEST["exec_simple_3"]  # convert_temperature(value=100, ...), value declared float
    assert bench.score(item, call("convert_temperature", value=100, from_unit="C", to_unit="F")) == 1.0
    assert bench.score(item, call("convert_temperature", value=100.0, from_unit="c", to_unit="f")) == 1.0
    assert bench.score(item, call("convert_temperature", value="100", from_unit="C", to_unit="F")) == 0.0


def test_optional_parameters_may_be_omitted_when_the_answer_allows_it():
    item = DEV["live_simple_0-0-0"]  # location: ["Porto, Portugal", "Porto"], unit: ["celsius", ""]
    assert bench.score(item, call("get_current_weather", location="Porto, Portugal")) == 1.0
    assert bench.score(item, call("get_current_weather", location="Porto", unit="celsius")) == 1.0
    assert bench.score(item, call("get_current_weather", location="Porto", unit="fahrenheit")) == 0.0
    assert bench.score(item, call("get_current_weather", unit="celsius")) == 0.0  # required location


def test_strings_are_normalized_like_bfcl():
    item = DEV["live_simple_0-0-0"]
    assert bench.score(item, call("get_current_weather", location="  porto,portugal ")) == 1.0
    assert bench.score(item, call("get_current_weather", location="Lisbon")) == 0.0
    assert normalize("New-York, U.S.A.") == normalize("new york usa") == "newyorkusa"


def test_lists_compare_element_by_element():
    item = TEST["exec_simple_1"]  # sort_numbers(numbers=[8, 3, 12, 5], descending=True)
    assert bench.score(item, call("sort_numbers", numbers=[8, 3, 12, 5], descending=True)) == 1.0
    assert bench.score(item, call("sort_numbers", numbers=[3, 5, 8, 12], descending=True)) == 0.0
    assert bench.score(item, call("sort_numbers", numbers=[8, 3, 12], descending=True)) == 0.0
    assert bench.score(item, call("sort_numbers", numbers="8, 3, 12, 5", descending=True)) == 0.0
    assert (
        bench.score(item, call("sort_numbers", numbers=[8, 3, 12, 5])) == 0.0
    )  # descending given in the answer


def test_dicts_compare_key_by_key():
    item = TEST["exec_simple_2"]  # create_profile(profile={'name': 'Ana Lima', 'age': 31})
    assert bench.score(item, call("create_profile", profile={"age": 31, "name": "ana lima"})) == 1.0
    assert bench.score(item, call("create_profile", profile={"name": "Ana Lima", "age": "31"})) == 0.0
    assert bench.score(item, call("create_profile", profile={"name": "Ana Lima"})) == 0.0
    assert bench.score(item, call("create_profile", profile={"name": "Ana Lima", "age": 31, "x": 1})) == 0.0


def test_dotted_names_may_use_underscores():
    simple = {it.id: it for it in BFCL(data_dir=FIXTURES, test_categories=("simple",)).items("test")}
    args = {"origin": "LIS", "destination": "OSL", "passengers": 2}
    assert bench.score(simple["simple_0"], call("flights.search", **args)) == 1.0
    assert bench.score(simple["simple_0"], call("flights_search", **args)) == 1.0
    assert (
        bench.score(simple["simple_0"], "flights.search(origin='LIS', destination='OSL', passengers=2)")
        == 1.0
    )


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "{",
        '{"name": "calculate_compound_interest", "arguments": {"principal": 2500,',  # truncated JSON
        "I am not able to call functions.",
        "<tool_call>not a call</tool_call>",
        '{"name": 3, "arguments": {}}',
        '{"name": "calculate_compound_interest", "arguments": [2500, 0.04, 6]}',
        "calculate_compound_interest(principal=open('/etc/passwd').read())",  # not a literal: never run
        "x" * 5_000_000,
        "{" * 200_000,
        "[" * 200_000 + "]" * 200_000,
        "f(" * 100_000,
        '{"a": ' * 50_000,
        "<tool_call>" * 50_000,
    ],
)
def test_malformed_replies_score_zero_without_exceptions(reply):
    t0 = time.monotonic()
    assert bench.score(INTEREST, reply) == 0.0
    assert bench.extract(reply) is None
    assert time.monotonic() - t0 < 10


def test_replies_are_parsed_never_evaluated(tmp_path):
    marker = tmp_path / "evaluated"
    reply = (
        f"calculate_compound_interest(principal=open({str(marker)!r}, 'w').write('x'), rate=0.04, years=6)"
    )
    assert parse_calls(reply) is None and bench.score(INTEREST, reply) == 0.0
    assert not marker.exists()


def test_extract_returns_the_call_as_json():
    assert json.loads(bench.extract(f"<tool_call>{call(**ARGS)}</tool_call>")) == json.loads(call(**ARGS))


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="parallel"):
        BFCL(test_categories=("parallel",))


def test_missing_data_says_where_to_put_it(tmp_path):
    with pytest.raises(SplitNotAvailable, match="PTB_ENV_DATA_DIR"):
        BFCL(data_dir=tmp_path).items("test")
