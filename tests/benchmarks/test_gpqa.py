"""GPQA main loader: splits from a local mirror of Idavidrein/gpqa (synthetic fixture), choices, scoring."""

import csv
import re
import shutil
import time
from pathlib import Path

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.gpqa import GPQAMain, extract_letter
from ptb_env.errors import SplitNotAvailable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
REPO = FIXTURES / "Idavidrein" / "gpqa"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


MAIN = read_csv(REPO / "gpqa_main.csv")
EXTENDED = read_csv(REPO / "gpqa_extended.csv")


@pytest.fixture(scope="module")
def bench():
    return GPQAMain(data_dir=FIXTURES)


@pytest.fixture(scope="module")
def item(bench):
    return bench.items("test")[0]


def mirror_copy(root: Path) -> Path:
    """A writable copy of the fixture mirror of Idavidrein/gpqa under ``root``."""
    shutil.copytree(REPO, root / "Idavidrein" / "gpqa")
    return root


def choices_of(item) -> dict[str, str]:
    """Letter -> choice text, read back from the prompt."""
    return dict(re.findall(r"^([A-D])\) (.*)$", item.messages[0]["content"], re.MULTILINE))


def test_splits_load_from_the_mirror(bench):
    assert bench.splits == ("dev", "test")
    assert [it.id for it in bench.items("test")] == [r["Record ID"] for r in MAIN]


def test_mirror_found_through_env_var_and_registry(monkeypatch, bench):
    monkeypatch.setenv("PTB_ENV_DATA_DIR", str(FIXTURES))
    assert get_benchmark("gpqa-main").items("test") == bench.items("test")


def test_dev_is_extended_minus_main_and_disjoint_from_test(bench):
    main_ids = {r["Record ID"] for r in MAIN}
    assert main_ids < {r["Record ID"] for r in EXTENDED}  # the fixture mirrors GPQA: main within extended
    dev, test = bench.items("dev"), bench.items("test")
    assert [it.id for it in dev] == [r["Record ID"] for r in EXTENDED if r["Record ID"] not in main_ids]
    assert not {it.messages[0]["content"] for it in dev} & {it.messages[0]["content"] for it in test}


def test_no_train_split(bench):
    with pytest.raises(SplitNotAvailable, match="no split 'train'"):
        bench.items("train")


def test_each_prompt_lists_the_four_answers_once_with_the_correct_one_at_the_answer_letter(bench):
    by_id = {r["Record ID"]: r for r in EXTENDED}
    for it in bench.items("dev") + bench.items("test"):
        row, choices = by_id[it.id], choices_of(it)
        wrong = {row[f"Incorrect Answer {k}"].strip() for k in (1, 2, 3)}
        assert sorted(choices) == list("ABCD") and it.answer in "ABCD"
        assert choices[it.answer] == row["Correct Answer"].strip()
        assert {c for letter, c in choices.items() if letter != it.answer} == wrong


def test_choice_order_is_the_same_for_fresh_objects(bench):
    assert GPQAMain(data_dir=FIXTURES).items("test") == bench.items("test")


def test_choice_order_depends_on_the_record_not_on_its_row(tmp_path, bench):
    root = mirror_copy(tmp_path)
    write_csv(root / "Idavidrein/gpqa/gpqa_main.csv", MAIN[::-1])
    reordered = {it.id: it for it in GPQAMain(data_dir=root).items("test")}
    for it in bench.items("test"):
        assert (reordered[it.id].messages, reordered[it.id].answer) == (it.messages, it.answer)


def test_correct_letters_are_not_all_the_same(bench):
    assert len({it.answer for it in bench.items("dev") + bench.items("test")}) > 1


def test_reference_target_scores_one_on_every_item(bench):
    for split in bench.splits:
        items = bench.items(split)
        assert bench.score_batch(items, [it.target for it in items]) == [1.0] * len(items)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("The energy is conserved.\nANSWER: B", "B"),
        ("answer: C", "C"),
        ("**ANSWER: D**", "D"),
        ("**Answer:** (A)", "A"),
        ("ANSWER: B\nOn reflection...\nANSWER: C", "C"),  # the last one counts
        ("Final answer: b", "B"),  # lowercase only when it ends the line
        ("The answer: a compound of iron", None),
        ("So the answer is (D).", "D"),
        ("The answer is A because B and C fail.", "A"),
        ("B", "B"),
        ("  (C) ", "C"),
        ("**A**", "A"),
        ("A catalyst lowers the barrier.", None),
        ("ANSWER: E", None),
        ("ANSWER: $LETTER", None),
        ("", None),
        ("I am not sure.", None),
        ("Ａ", None),  # full-width letter
        ("🙂 Ünïcödé ANSWER: A 🙂", "A"),
    ],
)
def test_extract_letter(completion, expected):
    assert extract_letter(completion) == expected


def test_score_letter_equality(bench, item):
    wrong = next(letter for letter in "ABCD" if letter != item.answer)
    assert bench.score(item, f"Reasoning...\nANSWER: {item.answer}") == 1.0
    assert bench.score(item, f"ANSWER: {wrong}") == 0.0
    assert bench.score(item, f"ANSWER: {item.answer}\nANSWER: {wrong}") == 0.0
    assert bench.score(item, "") == 0.0


def test_score_of_a_100_kb_reply_is_fast(bench, item):
    reply = "answer" + " " * 50_000 + "answer is " * 5_000 + f"\nANSWER: {item.answer}"
    start = time.perf_counter()
    assert bench.score(item, reply) == 1.0
    assert time.perf_counter() - start < 2.0


def test_missing_mirror_offline_raises_split_not_available(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SplitNotAvailable, match="PTB_ENV_DATA_DIR") as err:
        GPQAMain(data_dir=tmp_path).items("test")
    assert "gated" in str(err.value)


def test_row_without_an_answer_raises_split_not_available(tmp_path):
    root = mirror_copy(tmp_path)
    rows = [dict(r) for r in MAIN]
    rows[1]["Incorrect Answer 2"] = ""
    write_csv(root / "Idavidrein/gpqa/gpqa_main.csv", rows)
    with pytest.raises(SplitNotAvailable, match="download it again"):
        GPQAMain(data_dir=root).items("test")


def test_fingerprint_changes_when_a_row_changes(tmp_path, bench):
    same, changed = mirror_copy(tmp_path / "same"), mirror_copy(tmp_path / "changed")
    assert GPQAMain(data_dir=same).fingerprint("test") == bench.fingerprint("test")
    rows = [dict(r) for r in MAIN]
    rows[0]["Incorrect Answer 1"] = "1/3"
    write_csv(changed / "Idavidrein/gpqa/gpqa_main.csv", rows)
    assert GPQAMain(data_dir=changed).fingerprint("test") != bench.fingerprint("test")
