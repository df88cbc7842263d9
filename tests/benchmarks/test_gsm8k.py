"""GSM8K loader: splits from a local mirror of openai/gsm8k (synthetic fixture), extraction, scoring."""

import re
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.gsm8k import GSM8K, canonical_number
from ptb_env.errors import SplitNotAvailable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
TRAIN = "openai/gsm8k/main/train-00000-of-00001.parquet"
N_TRAIN, N_TEST, DEV = 12, 5, 4


@pytest.fixture(scope="module")
def bench():
    return GSM8K(data_dir=FIXTURES, dev_size=DEV)


@pytest.fixture(scope="module")
def item(bench):
    return bench.items("test")[0]


def mirror_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture mirror of openai/gsm8k under ``tmp_path``."""
    shutil.copytree(FIXTURES / "openai", tmp_path / "openai")
    return tmp_path


def test_splits_load_from_the_mirror(bench):
    assert [len(bench.items(s)) for s in ("train", "dev", "test")] == [N_TRAIN - DEV, DEV, N_TEST]


def test_mirror_found_through_env_var_and_registry(monkeypatch, bench):
    monkeypatch.setenv("PTB_ENV_DATA_DIR", str(FIXTURES))
    assert get_benchmark("gsm8k").items("test") == bench.items("test")


def test_splits_are_disjoint_and_dev_plus_train_is_the_train_file(bench):
    ids = {s: {it.id for it in bench.items(s)} for s in bench.splits}
    prompts = {s: {it.messages[0]["content"] for it in bench.items(s)} for s in bench.splits}
    assert not ids["train"] & ids["dev"] and not prompts["train"] & prompts["dev"]
    assert not (prompts["train"] | prompts["dev"]) & prompts["test"]
    assert ids["train"] | ids["dev"] == {f"train-{i}" for i in range(N_TRAIN)}


def test_dev_sample_is_the_same_for_fresh_objects(bench):
    assert GSM8K(data_dir=FIXTURES, dev_size=DEV).items("dev") == bench.items("dev")


def test_dev_sample_does_not_depend_on_row_order(tmp_path, bench):
    root = mirror_copy(tmp_path)
    table = pq.read_table(root / TRAIN)
    pq.write_table(table.take(list(range(table.num_rows))[::-1]), root / TRAIN)
    reordered = GSM8K(data_dir=root, dev_size=DEV).items("dev")
    assert {it.messages[0]["content"] for it in reordered} == {
        it.messages[0]["content"] for it in bench.items("dev")
    }


def test_default_dev_is_the_whole_train_split_when_it_is_smaller_than_200():
    small = GSM8K(data_dir=FIXTURES)
    assert (len(small.items("dev")), len(small.items("train"))) == (N_TRAIN, 0)


def test_answers_are_canonical_numbers(bench):
    answers = [it.answer for s in bench.splits for it in bench.items(s)]
    assert "1700" in answers and "11.25" in answers  # "#### 1,700" and "#### 11.25" in the file
    for answer in answers:
        assert re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?", answer), answer


@pytest.mark.parametrize(("text", "canonical"), [("1,000", "1000"), ("18.50", "18.5"), ("-3.0", "-3")])
def test_canonical_number(text, canonical):
    assert canonical_number(text) == canonical


def test_targets_drop_calculator_annotations_and_end_with_the_answer(bench):
    for split in bench.splits:
        for it in bench.items(split):
            assert "<<" not in it.target and ">>" not in it.target
            assert it.target.endswith(f"\n#### {it.answer}")


def test_reference_target_scores_one_on_every_item(bench):
    for split in bench.splits:
        items = bench.items(split)
        assert bench.score_batch(items, [it.target for it in items]) == [1.0] * len(items)


def test_prompt_is_one_zero_shot_user_turn_asking_for_the_format(item):
    assert [m["role"] for m in item.messages] == ["user"]
    assert "####" in item.messages[0]["content"] and "step by step" in item.messages[0]["content"]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("so 3 + 4 = 7\n#### 7", Decimal(7)),
        ("#### 1,234", Decimal(1234)),
        ("#### $1,234.00", Decimal(1234)),
        ("#### -5", Decimal(-5)),
        ("#### $-5", Decimal(-5)),
        ("#### +5", Decimal(5)),
        ("#### 40%", Decimal(40)),
        ("first #### 3 then #### 9", Decimal(9)),  # the last #### counts
        ("#### 9 after 3 steps", Decimal(9)),  # the first number after it
        ("12 apples\n#### none", Decimal(12)),  # no number after ####: lenient rules
        ("ANSWER: 42 (after 7 steps)", Decimal(42)),
        ("The answer is 18.5, not 19.", Decimal("18.5")),
        ("I add 3 and 4 and get 7.", Decimal(7)),  # the last number
        ("from 10-12 people", Decimal(12)),  # a hyphen between numbers is not a sign
        ("", None),
        ("no numbers here", None),
        ("#### ７", None),  # full-width digits are not numbers here
        ("🙂 Ünïcödé 🙂 #### 8 🙂", Decimal(8)),
    ],
)
def test_extract(bench, completion, expected):
    assert bench.extract(completion) == expected


def test_score_numeric_equality(bench, item):
    answer = item.answer
    assert bench.score(item, f"#### {answer}") == 1.0
    assert bench.score(item, f"#### {answer}.00") == 1.0
    assert bench.score(item, f"The answer is ${answer}.") == 1.0
    assert bench.score(item, f"#### {int(answer) + 1}") == 0.0
    assert bench.score(item, f"#### {answer}.5") == 0.0
    assert bench.score(item, "") == 0.0
    assert bench.score(item, "I do not know.") == 0.0


def test_score_of_a_100_kb_reply_is_fast(bench, item):
    reply = ("step " * 20_000) + " " * 4_000 + "-" * 4_000 + f"\n#### {item.answer}"
    start = time.perf_counter()
    assert bench.score(item, reply) == 1.0
    assert time.perf_counter() - start < 2.0


def test_missing_mirror_offline_raises_split_not_available(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SplitNotAvailable, match="PTB_ENV_DATA_DIR"):
        GSM8K(data_dir=tmp_path).items("test")


def test_fingerprint_changes_when_a_row_changes(tmp_path, bench):
    same, changed = mirror_copy(tmp_path / "same"), mirror_copy(tmp_path / "changed")
    assert GSM8K(data_dir=same).fingerprint("test") == bench.fingerprint("test")
    path = changed / "openai/gsm8k/main/test-00000-of-00001.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[2]["question"] = rows[2]["question"].replace("25 pages", "20 pages")
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert GSM8K(data_dir=changed).fingerprint("test") != bench.fingerprint("test")
