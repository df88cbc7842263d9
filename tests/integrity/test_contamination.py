"""Contamination scan: planted test items are found, clean tiny-world data is not; links are not followed."""

from __future__ import annotations

import doctest
import json
import os
import random
import shutil
import threading
from pathlib import Path

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.generate import write_train_data
from ptb_env.integrity import contamination, textfiles
from ptb_env.integrity.contamination import ContaminationConfig, scan_contamination
from ptb_env.paths import PUBLIC_DATA_DIR

BENCHMARKS = ("tiny-arith", "tiny-tools", "tiny-facts")


@pytest.fixture(scope="module")
def splits() -> dict[str, list[Item]]:
    return {name: get_benchmark(name).items("test") for name in BENCHMARKS}


def question(item: Item) -> str:
    return "\n".join(m["content"] for m in item.messages if m["role"] == "user")


def planted(items: list[Item], k: int = 10, seed: int = 0) -> list[Item]:
    """``k`` items whose question no other test item shares (so exactly these can match)."""
    counts: dict[str, int] = {}
    for it in items:
        counts[question(it)] = counts.get(question(it), 0) + 1
    unique = [it for it in items if counts[question(it)] == 1]
    return sorted(random.Random(seed).sample(unique, k), key=items.index)


def scan(path: Path, items: list[Item], **config) -> contamination.Verdict:
    return scan_contamination([path], items, ContaminationConfig(**config))


def matched_ids(verdict) -> set[str]:
    return {m["id"] for m in verdict.evidence["items"]}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_verbatim_chat_jsonl_fails_naming_the_items_and_file(tmp_path, splits, name):
    plant = planted(splits[name])
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(it.chat_example()) + "\n" for it in plant))
    verdict = scan(tmp_path, splits[name])
    assert not verdict.passed and verdict.evidence["matched"] == 10
    assert matched_ids(verdict) == {it.id for it in plant}
    assert all(m["files"][0]["file"].endswith("train.jsonl") for m in verdict.evidence["items"])


@pytest.mark.parametrize("name", BENCHMARKS)
def test_other_json_layout_fails(tmp_path, splits, name):
    rows = [
        {"prompt": question(it), "completion": it.target, "label": it.answer} for it in planted(splits[name])
    ]
    (tmp_path / "data.json").write_text(json.dumps({"rows": rows}, indent=2))
    assert matched_ids(scan(tmp_path, splits[name])) == {it.id for it in planted(splits[name])}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_prose_question_and_answer_fails(tmp_path, splits, name):
    text = "".join(f"Q: {question(it)} A: {it.answer}\n\n" for it in planted(splits[name]))
    (tmp_path / "notes.md").write_text("Some examples I like:\n" + text)
    assert matched_ids(scan(tmp_path, splits[name])) == {it.id for it in planted(splits[name])}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_case_whitespace_and_punctuation_changes_fail(tmp_path, splits, name):
    def mangle(text: str) -> str:
        return text.upper().replace(" ", " \t ").replace("?", " ?!").replace(".", ";").replace("\n", " | ")

    (tmp_path / "x.txt").write_text("\n".join(mangle(question(it)) for it in planted(splits[name])))
    assert matched_ids(scan(tmp_path, splits[name])) == {it.id for it in planted(splits[name])}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_answers_only_in_split_order_fail(tmp_path, splits, name):
    run = splits[name][200:300]
    (tmp_path / "answers.txt").write_text("\n".join(it.answer for it in run))
    verdict = scan(tmp_path, splits[name])
    assert not verdict.passed and verdict.evidence["matched"] >= 90
    assert matched_ids(verdict) <= {it.id for it in run}


@pytest.mark.parametrize("name", ["tiny-arith", "tiny-facts"])
def test_reference_replies_only_in_split_order_fail(tmp_path, splits, name):
    rows = [{"text": it.target} for it in splits[name][:100]]
    (tmp_path / "replies.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert scan(tmp_path, splits[name]).evidence["matched"] >= 90


@pytest.mark.parametrize("name", BENCHMARKS)
def test_item_ids_fail(tmp_path, splits, name):
    plant = planted(splits[name])
    (tmp_path / "ids.csv").write_text("id,answer\n" + "".join(f"{it.id},?\n" for it in plant))
    assert matched_ids(scan(tmp_path, splits[name])) == {it.id for it in plant}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_shuffled_answers_are_not_detected_as_documented(tmp_path, splits, name):
    answers = [it.answer for it in splits[name]]
    random.Random(0).shuffle(answers)
    (tmp_path / "answers.txt").write_text("\n".join(answers))
    assert scan(tmp_path, splits[name]).passed  # answers out of split order carry no item


@pytest.mark.parametrize("name", BENCHMARKS)
def test_fewer_than_min_items_pass(tmp_path, splits, name):
    (tmp_path / "two.txt").write_text("\n".join(question(it) for it in planted(splits[name], k=2)))
    verdict = scan(tmp_path, splits[name])
    assert verdict.passed and verdict.evidence["matched"] == 2


@pytest.fixture(scope="module")
def clean_workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    for name in BENCHMARKS:
        write_train_data(name, 20_000, 0, root / "data" / f"{name}.jsonl")
        shutil.copy(PUBLIC_DATA_DIR / name / "dev.jsonl", root / f"{name}-dev.jsonl")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_clean_generated_train_data_and_dev_split_pass(clean_workspace, splits, name):
    verdict = scan(clean_workspace, splits[name])
    assert verdict.passed and verdict.evidence["matched"] == 0
    assert verdict.evidence["files_scanned"] == 6 and verdict.evidence["bytes_scanned"] > 20_000_000


def test_symlinks_to_the_test_split_are_not_followed(tmp_path, splits):
    test_file = get_benchmark("tiny-arith").split_path("test")
    (tmp_path / "ws").mkdir()
    os.symlink(test_file, tmp_path / "ws" / "train.jsonl")
    os.symlink(test_file.parent, tmp_path / "ws" / "private", target_is_directory=True)
    verdict = scan_contamination([tmp_path / "ws", tmp_path / "ws" / "train.jsonl"], splits["tiny-arith"])
    assert verdict.passed and verdict.evidence["files_scanned"] == 0
    assert verdict.evidence["files_skipped"]["link"] == 3


def test_fifo_does_not_hang(tmp_path, splits):
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "a.txt").write_text("hello")
    result = []
    worker = threading.Thread(target=lambda: result.append(scan(tmp_path, splits["tiny-arith"])), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert result and result[0].passed
    assert result[0].evidence["files_skipped"] == {"not a regular file": 1}


def test_per_file_cap_is_respected_and_reported(tmp_path, splits):
    items = planted(splits["tiny-tools"])
    filler = "nothing to see here\n" * 5000  # 100 kB
    (tmp_path / "big.txt").write_text(filler + "\n".join(question(it) for it in items))
    verdict = scan(tmp_path, splits["tiny-tools"], max_file_bytes=len(filler))
    assert verdict.passed and verdict.evidence["bytes_scanned"] == len(filler)
    assert verdict.evidence["caps_hit"]["max_file_bytes"] == [str(tmp_path / "big.txt")]
    assert not scan(tmp_path, splits["tiny-tools"], max_file_bytes=2 * len(filler)).passed


def test_total_and_file_count_caps_are_respected_and_reported(tmp_path, splits):
    (tmp_path / "a.txt").write_text("x" * 1000)
    (tmp_path / "b.txt").write_text("\n".join(question(it) for it in planted(splits["tiny-tools"])))
    by_bytes = scan(tmp_path, splits["tiny-tools"], max_total_bytes=1000)
    by_count = scan(tmp_path, splits["tiny-tools"], max_files=2)  # the directory and a.txt
    assert by_bytes.passed and by_bytes.evidence["caps_hit"]["max_total_bytes"]
    assert by_count.passed and by_count.evidence["caps_hit"]["max_files"]
    assert by_bytes.evidence["bytes_scanned"] == by_count.evidence["bytes_scanned"] == 1000


def test_deep_directory_trees_are_walked_without_recursion(tmp_path, splits):
    depth, fd = 1200, os.open(tmp_path, os.O_RDONLY)  # deeper than Python's recursion limit
    for _ in range(depth):  # built and removed by fd: pathlib and shutil would recurse
        os.mkdir("d", dir_fd=fd)
        fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    text = "\n".join(question(it) for it in planted(splits["tiny-tools"])).encode()
    os.write(out := os.open("x.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), text)
    os.close(out)
    try:
        assert scan(tmp_path, splits["tiny-tools"]).evidence["matched"] == 10
    finally:
        os.unlink("x.txt", dir_fd=fd)
        for _ in range(depth):
            fd, child = os.open("..", os.O_RDONLY, dir_fd=fd), fd
            os.close(child)
            os.rmdir("d", dir_fd=fd)
        os.close(fd)


def test_binary_files_are_skipped_unless_named_as_text(tmp_path, splits):
    text = "\n".join(question(it) for it in planted(splits["tiny-tools"])).encode()
    (tmp_path / "blob.bin").write_bytes(b"\0" + text)
    assert scan(tmp_path, splits["tiny-tools"]).evidence["files_skipped"] == {"binary": 1}
    (tmp_path / "blob.jsonl").write_bytes(b"\0" + text)
    assert not scan(tmp_path, splits["tiny-tools"]).passed


def test_json_unicode_escapes_are_decoded(tmp_path):
    items = [
        Item(
            id=f"q{i}",
            messages=({"role": "user", "content": f"Où est la crème brûlée numéro {i} ?"},),
            answer="x",
        )
        for i in range(3)
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"q": question(it)}) + "\n" for it in items))
    assert "\\u00e8" in (tmp_path / "d.jsonl").read_text()
    assert scan(tmp_path, items).evidence["matched"] == 3


@pytest.mark.parametrize("module", [contamination, textfiles])
def test_docstring_examples_run(module):
    assert doctest.testmod(module).failed == 0
