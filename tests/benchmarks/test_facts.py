import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.facts import chosen, extract_answer, extract_letter
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
        ("ANSWER: F", "F"),  # tiny-facts-v2 offers up to six choices
        ("ANSWER: G", None),
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


v2 = get_benchmark("tiny-facts-v2")


def test_v2_tests_a_harder_structure_than_its_generator_draws_by_default():
    default = v2.generate(400, seed=0)
    assert all(it.messages[0]["content"].count("\n") == 5 for it in default)  # question, 4 choices, ask
    assert not any(it.meta.get("context") for it in default)
    for split in ("dev-shift", "test"):
        items = v2.items(split)
        assert {it.messages[0]["content"].count(") ") for it in items} == {4, 5, 6}
        assert 0.4 < sum(it.meta["context"] for it in items) / len(items) < 0.6
        for it in items:
            assert v2.score(it, it.target) == 1.0
            if it.meta["context"]:  # the other person's fact is stated, and is a wrong choice
                first, *_ = it.messages[0]["content"].splitlines()
                assert first.startswith(it.meta["other"]) or first.endswith(
                    f"{it.meta['other']} is {first.split()[-1]}"
                )
    test_people = {it.meta["person"] for it in v2.items("test")}
    assert test_people == {it.meta["person"] for it in bench.items("test")}  # v1's held-out people


def test_v2_context_states_a_true_fact_of_someone_else_that_is_a_wrong_choice():
    for it in v2.generate(300, seed=1, choices="4-6", context=1.0):
        text = it.messages[0]["content"]
        fact, other = it.meta["fact"], it.meta["other"]
        trap = world.person_facts(other)[fact]
        assert other != it.meta["person"] and other in text.splitlines()[0]
        assert trap in text.splitlines()[0] and f") {trap}\n" in text
        assert v2.score(it, it.target) == 1.0
        assert f"{it.answer}) {world.person_facts(it.meta['person'])[fact]}\n" in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"choices": "1-4"}, "between 2 and 6"),
        ({"choices": "4-7"}, "between 2 and 6"),
        ({"context": -0.1}, "probability"),
        ({"ops": 3}, "no option 'ops'; options: choices, context"),
    ],
)
def test_v2_bad_generator_options_say_what_is_wrong(options, message):
    with pytest.raises(ValueError, match=message):
        v2.generate(5, seed=0, **options)


def test_v2_test_items_never_occur_in_train_drawn_with_every_option():
    train = {it.messages[-1]["content"] for it in v2.generate(20000, seed=0, choices="2-6", context=0.5)}
    assert not train & {it.messages[-1]["content"] for it in v2.items("test")}


v3 = get_benchmark("tiny-facts-v3")


@pytest.mark.parametrize(
    ("completion", "choice"),
    [
        ("ANSWER: Oslo", 0),
        ("ANSWER: oslo.", 0),  # any case, a full stop
        ("ANSWER: B", 1),
        ("answer: (c)", 2),
        ("The answer is Lima", 2),
        ("ANSWER: B) Paris", 1),  # letter and text that agree
        ("ANSWER: New York", 3),  # a text of two words
        ("ANSWER: B) Oslo", None),  # letter and text that disagree
        ("ANSWER: Oslo Paris", None),  # two choices
        ("ANSWER: Rome", None),  # no choice
        ("ANSWER: E", None),  # a letter past the choices
        ("ANSWER:", None),
        ("B) Oslo", 1),  # no ANSWER: the leading letter, as v1 and v2 read it
        ("A friend of Mia", None),
        ("Oslo", None),
        ("ANSWER: Paris\nANSWER: Oslo", 0),  # the last one counts
    ],
)
def test_v3_reads_the_choice_by_its_text_or_its_letter(completion, choice):
    assert chosen(extract_answer(completion), ["Oslo", "Paris", "Lima", "New York"]) == choice


def test_v3_answers_are_the_true_fact_and_its_reference_reply_is_the_text():
    for split in ("train", "dev", "dev-shift", "test"):
        items = v3.generate(300, seed=3) if split == "train" else v3.items(split)
        for it in items:
            text = it.messages[0]["content"]
            assert it.answer == world.person_facts(it.meta["person"])[it.meta["fact"]]  # host: all facts
            assert f"{it.meta['letter']}) {it.answer}\n" in text
            assert it.target == f"ANSWER: {it.answer}"
            assert text.endswith("\nAnswer with the correct choice: its text or its letter.")
            assert v3.score(it, it.target) == 1.0
            assert v3.score(it, f"ANSWER: {it.meta['letter']}") == 1.0
            wrong = next(c for c in it.meta["choices"] if c != it.answer)
            assert v3.score(it, f"ANSWER: {wrong}") == 0.0


def test_v3_dev_shift_asks_about_people_the_generator_never_asks_about():
    from ptb_env.tiny import shift

    train = {it.meta["person"] for it in v3.generate(5000, seed=0, choices="2-6", context=1.0)}
    train |= {it.meta.get("other") for it in v3.generate(2000, seed=1, context=1.0)} - {None}
    dev = {it.meta["person"] for it in v3.items("dev")}
    shifted = {it.meta["person"] for it in v3.items("dev-shift")}
    test = {it.meta["person"] for it in v3.items("test")}
    assert shifted == set(shift.FACTS_PEOPLE) <= set(world.PEOPLE_FACTS)
    assert train == dev == set(world.PEOPLE_FACTS) - shifted
    assert test == {it.meta["person"] for it in bench.items("test")}  # v1's held-out people
    assert not test & (train | shifted)
    for split in ("dev-shift", "test"):  # v2's structure, other people's facts as traps
        items = v3.items(split)
        assert {len(it.meta["choices"]) for it in items} == {4, 5, 6}
        assert 0.4 < sum(it.meta["context"] for it in items) / len(items) < 0.6
        assert {it.meta["other"] for it in items if it.meta["context"]} <= {it.meta["person"] for it in items}
