import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.facts import extract_letter
from ptb_env.tiny import world

bench = get_benchmark("tiny-facts")


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("ANSWER: B", "B"),
        ("answer: c", "C"),
        ("The answer is (D).", "D"),
        ("B) Oslo", "B"),
        ("A", "A"),
        ("ANSWER: A ... no, ANSWER: C", "C"),
        ("Oslo", None),
        ("", None),
        ("ANSWER: E", None),
        ("Ä) 🙂", None),
        ("Because Mia lives there", None),
        ("A friend of Mia", None),
        ("  C.", "C"),
        ("(b)", None),
    ],
)
def test_extract_letter(completion, expected):
    assert extract_letter(completion) == expected


def test_items_ask_true_facts_with_one_correct_choice():
    for item in bench.generate(200, seed=2):
        text = item.messages[0]["content"]
        truth = world.person_facts(item.meta["person"])[item.meta["fact"]]
        assert f"{item.answer}) {truth}\n" in text
        assert bench.score(item, item.target) == 1.0
        assert text.count(f") {truth}\n") == 1


def test_test_split_asks_about_held_out_people():
    seen = {it.meta["person"] for it in bench.items("dev")} | {
        it.meta["person"] for it in bench.generate(5000, seed=0)
    }
    assert not seen & {it.meta["person"] for it in bench.items("test")}
