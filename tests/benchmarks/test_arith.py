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
