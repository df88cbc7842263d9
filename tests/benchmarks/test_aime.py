"""AIME 2025 loader: splits from local mirrors of math-ai/aime25 and HuggingFaceH4/aime_2024 (synthetic
fixtures), boxed-answer extraction, scoring."""

import json
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.aime import AIME2025, extract_boxed
from ptb_env.errors import SplitNotAvailable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
TEST_FILE = "math-ai/aime25/test.jsonl"
DEV_FILE = "HuggingFaceH4/aime_2024/data/train-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def bench():
    return AIME2025(data_dir=FIXTURES)


@pytest.fixture(scope="module")
def item(bench):
    return bench.items("test")[0]


def mirror_copy(root: Path) -> Path:
    """A writable copy of both fixture mirrors under ``root``."""
    for repo in ("math-ai", "HuggingFaceH4"):
        shutil.copytree(FIXTURES / repo, root / repo)
    return root


def test_splits_load_from_the_mirrors(bench):
    assert bench.splits == ("dev", "test")
    assert [len(bench.items(s)) for s in bench.splits] == [5, 5]
    assert [it.id for it in bench.items("test")] == [f"aime2025-{i}" for i in range(5)]


def test_mirror_found_through_env_var_and_registry(monkeypatch, bench):
    monkeypatch.setenv("PTB_ENV_DATA_DIR", str(FIXTURES))
    assert get_benchmark("aime2025").items("dev") == bench.items("dev")


def test_dev_and_test_are_disjoint(bench):
    dev, test = bench.items("dev"), bench.items("test")
    assert not {it.id for it in dev} & {it.id for it in test}
    assert not {it.messages[0]["content"] for it in dev} & {it.messages[0]["content"] for it in test}


def test_items_are_the_same_for_fresh_objects(bench):
    assert [AIME2025(data_dir=FIXTURES).items(s) for s in bench.splits] == [
        bench.items(s) for s in bench.splits
    ]


def test_answers_are_canonical_integers(bench):
    rows = pq.read_table(FIXTURES / DEV_FILE).to_pylist()
    assert rows[0]["answer"] == "014" and bench.items("dev")[0].answer == "14"  # zero padding dropped
    for split in bench.splits:
        for it in bench.items(split):
            assert it.answer == str(int(it.answer)) and 0 <= int(it.answer) <= 999


def test_prompt_asks_for_a_boxed_integer(item):
    assert [m["role"] for m in item.messages] == ["user"]
    assert "\\boxed{}" in item.messages[0]["content"]


def test_dev_targets_score_one_and_test_targets_are_empty(bench):
    dev = bench.items("dev")
    assert bench.score_batch(dev, [it.target for it in dev]) == [1.0] * len(dev)
    assert {it.target for it in bench.items("test")} == {""}  # math-ai/aime25 has no solutions


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (r"so $\boxed{70}$.", 70),
        (r"\boxed{070}", 70),
        (r"\boxed{ 7 0 }", 70),
        (r"\boxed{36^\circ}", 36),
        (r"\boxed{36^{\circ}}", 36),
        (r"\boxed{36 ^ { \circ }}", 36),
        (r"\boxed{m+n=\text{73}}", 73),
        (r"\boxed{\frac{1}{2}}", None),  # a box without an integer is a wrong answer
        (r"first \boxed{5}, then \boxed{\text{6}}", 6),  # the last box counts
        (r"\boxed{5} and an unclosed \boxed{7", 5),
        (r"\boxed{\boxed{8}}", 8),
        ("ANSWER: 042", 42),
        ("I think it is 12, then 3.5, so 17 apples", 17),  # the last integer
        ("", None),
        ("no number at all", None),
        ("答案是 \\boxed{７０}", None),  # full-width digits are not an integer here
        ("🙂 \\boxed{204} 🙂", 204),
    ],
)
def test_extract(bench, completion, expected):
    assert bench.extract(completion) == expected


def test_extract_boxed_handles_nested_braces():
    assert extract_boxed(r"\boxed{\frac{a}{b}+{c}}") == r"\frac{a}{b}+{c}"


def test_score_integer_equality(bench, item):
    answer = int(item.answer)
    assert bench.score(item, f"\\boxed{{{answer}}}") == 1.0
    assert bench.score(item, f"\\boxed{{{answer:03d}}}") == 1.0
    assert bench.score(item, f"\\boxed{{{answer + 1}}}") == 0.0
    assert bench.score(item, f"\\boxed{{{answer}}} or maybe \\boxed{{{answer + 1}}}") == 0.0
    assert bench.score(item, "") == 0.0


def test_score_of_a_100_kb_reply_is_fast(bench, item):
    reply = "\\boxed{" * 10_000 + "{" * 20_000 + " " * 10_000 + f"\\boxed{{{item.answer}}}"
    start = time.perf_counter()
    assert bench.score(item, reply) == 1.0
    assert bench.extract("\\boxed{^" + " " * 50_000 + "}") is None
    assert time.perf_counter() - start < 2.0


def test_missing_mirror_offline_raises_split_not_available(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SplitNotAvailable, match="PTB_ENV_DATA_DIR"):
        AIME2025(data_dir=tmp_path).items("test")


def test_answer_outside_0_999_raises_split_not_available(tmp_path):
    root = mirror_copy(tmp_path)
    rows = [json.loads(line) for line in (root / TEST_FILE).read_text().splitlines()]
    rows[0]["answer"] = "1000"
    (root / TEST_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SplitNotAvailable, match="not an integer from 0 to 999"):
        AIME2025(data_dir=root).items("test")


def test_fingerprint_changes_when_a_row_changes(tmp_path, bench):
    same, changed = mirror_copy(tmp_path / "same"), mirror_copy(tmp_path / "changed")
    assert AIME2025(data_dir=same).fingerprint("test") == bench.fingerprint("test")
    rows = [json.loads(line) for line in (changed / TEST_FILE).read_text().splitlines()]
    rows[3]["problem"] = rows[3]["problem"].replace("a_1 = 3", "a_1 = 4")
    (changed / TEST_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert AIME2025(data_dir=changed).fingerprint("test") != bench.fingerprint("test")
