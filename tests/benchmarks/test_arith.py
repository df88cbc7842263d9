from decimal import Decimal

import pytest

from ptb_env.benchmarks import get_benchmark

bench = get_benchmark("tiny-arith")
ITEM = bench.items("dev", limit=1)[0]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("3 + 4 = 7\n#### 7", Decimal(7)),
        ("#### 1,234", Decimal(1234)),
        ("####-5 apples", Decimal(-5)),
        ("#### 12.0", Decimal("12.0")),
        ("first #### 3 then #### 9", Decimal(9)),  # the last #### counts
        ("#### 4 or maybe 5", Decimal(4)),  # first number after it
        ("#### ７", None),  # full-width digits are not ASCII numbers
        ("the answer is 7", None),  # no ####: no answer
        ("", None),
        ("####", None),
        ("#### seven", None),
        ("🙂 #### 8 🙂", Decimal(8)),
    ],
)
def test_extract(completion, expected):
    assert bench.extract(completion) == expected


def test_score_exact_numeric_match():
    answer = ITEM.answer
    assert bench.score(ITEM, f"#### {answer}") == 1.0
    assert bench.score(ITEM, f"#### {answer}.0") == 1.0
    assert bench.score(ITEM, f"#### {int(answer) + 1}") == 0.0
    assert bench.score(ITEM, answer) == 0.0  # format is part of the task
    assert bench.score(ITEM, ITEM.target) == 1.0


def test_reference_targets_are_correct():
    for item in bench.generate(300, seed=3):
        assert bench.score(item, item.target) == 1.0
        assert 1 <= item.meta["n_ops"] <= 3
        assert item.target.count("=") == item.meta["n_ops"]


v2 = get_benchmark("tiny-arith-v2")


def test_v2_tests_a_harder_structure_than_its_generator_draws_by_default():
    default = v2.generate(400, seed=0)
    assert {it.meta["n_ops"] for it in default} == {1, 2, 3}
    assert not any(it.meta.get("distractor") for it in default)
    for split in ("dev-shift", "test"):
        items = v2.items(split)
        assert {it.meta["n_ops"] for it in items} == {2, 3, 4, 5}
        share = sum(it.meta["distractor"] for it in items) / len(items)
        assert 0.4 < share < 0.6
        for it in items:  # the worked solution still holds: the distractor changes nothing
            assert v2.score(it, it.target) == 1.0
            assert it.target.count("=") == it.meta["n_ops"]


def test_v2_generator_options_reach_the_test_structure():
    wide = v2.generate(400, seed=0, ops="1-5", distractors=0.5)
    assert {it.meta["n_ops"] for it in wide} == {1, 2, 3, 4, 5}
    assert 0.4 < sum(it.meta["distractor"] for it in wide) / len(wide) < 0.6
    assert all(v2.score(it, it.target) == 1.0 for it in wide)
    assert v2.generate(50, seed=0, ops=(2, 4)) == v2.generate(50, seed=0, ops="2-4")  # same draws


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ops": "0"}, "1 <= low <= high"),
        ({"ops": "5-2"}, "1 <= low <= high"),
        ({"ops": "many"}, "range like"),
        ({"distractors": 1.5}, "probability"),
        ({"distractors": "half"}, "probability in \\[0, 1\\], actually got 'half'"),
        ({"chains": 3}, "no option 'chains'; options: ops, distractors"),
    ],
)
def test_bad_generator_options_say_what_is_wrong(options, message):
    with pytest.raises(ValueError, match=message):
        v2.generate(5, seed=0, **options)


def test_v1_has_no_generator_options():
    with pytest.raises(ValueError, match="no option 'ops'; options: none"):
        bench.generate(5, seed=0, ops="1-5")


def test_v2_test_items_never_occur_in_train_drawn_with_every_option():
    train = {it.messages[-1]["content"] for it in v2.generate(20000, seed=0, ops="1-5", distractors=1.0)}
    assert not train & {it.messages[-1]["content"] for it in v2.items("test")}


v3 = get_benchmark("tiny-arith-v3")


def test_v3_mixes_the_default_structure_with_v2s_in_its_shifted_splits():
    assert v3.generator_options().keys() == v2.generator_options().keys()
    for items in (v3.generate(400, seed=0), v3.items("dev")):  # the default structure, as v2's
        assert {it.meta["n_ops"] for it in items} == {1, 2, 3} and not any(
            it.meta.get("distractor") for it in items
        )
    for split in ("dev-shift", "test"):
        items = v3.items(split)
        easy = [it for it in items if it.meta["default_structure"]]
        hard = [it for it in items if not it.meta["default_structure"]]
        assert 0.5 < len(easy) / len(items) < 0.7
        assert {it.meta["n_ops"] for it in easy} == {1, 2, 3} and not any(
            it.meta["distractor"] for it in easy
        )
        assert {it.meta["n_ops"] for it in hard} == {2, 3, 4, 5}
        assert 0.35 < sum(it.meta["distractor"] for it in hard) / len(hard) < 0.65
        assert all(
            v3.score(it, it.target) == 1.0 and it.target.count("=") == it.meta["n_ops"] for it in items
        )


def test_v3_test_items_never_occur_in_train_drawn_with_every_option():
    train = {it.messages[-1]["content"] for it in v3.generate(20000, seed=0, ops="1-5", distractors=0.5)}
    train |= {it.messages[-1]["content"] for it in v3.generate(20000, seed=1)}
    assert not train & {it.messages[-1]["content"] for it in v3.items("test")}


def test_the_generate_command_takes_a_benchmarks_options_and_refuses_bad_ones(tmp_path):
    import json
    import subprocess
    import sys

    def generate(*args):
        cmd = [sys.executable, "-m", "ptb_env.benchmarks.generate", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    out = tmp_path / "d.jsonl"
    ok = generate("tiny-arith-v2", "--n", "20", "--ops", "4-5", "--distractors", "1", "--out", str(out))
    assert ok.returncode == 0, ok.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20 and all(r["messages"][-1]["content"].count("=") >= 4 for r in rows)
    bad = generate("tiny-arith-v2", "--n", "5", "--ops", "0", "--out", str(out))
    assert bad.returncode != 0 and "1 <= low <= high" in bad.stderr and "Traceback" not in bad.stderr
    assert "--distractors" in generate("tiny-arith-v2", "--help").stdout
    assert generate("tiny-arith", "--n", "5", "--ops", "3", "--out", str(out)).returncode == 2  # v1: none
