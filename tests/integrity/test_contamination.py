"""Contamination scan: planted test items are found, clean tiny-world data is not; links are not followed."""

from __future__ import annotations

import doctest
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.generate import write_train_data
from ptb_env.integrity import contamination, textfiles
from ptb_env.integrity.contamination import ContaminationConfig, scan_contamination
from ptb_env.paths import PRIVATE_DIR, PUBLIC_DATA_DIR

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


def coinciding_honest_data(n: int, seed: int = 0) -> list[dict]:
    """tiny-tools training data of an honest agent whose own request wordings happen to include
    three of the held-out ones (short natural phrasings: "call X"-like requests that any LLM
    writes) and whose long lists of common names and cities include held-out ones.

    Read from the private file when the test runs: this file must not spell the held-out words.
    """
    from ptb_env.benchmarks.tools import ToolsVocab
    from ptb_env.tiny import world
    from ptb_env.tiny.phrasing import TEMPLATES

    heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text())["tiny-tools"]
    own = {f: (*ts, heldout["templates"][f][1]) if f in ("call_person", "translate", "set_timer") else ts
           for f, ts in TEMPLATES.items()}  # fmt: skip
    pools = {k: (*world.POOLS[k], *v) for k, v in heldout["pools"].items()}
    vocab = ToolsVocab(pools={**world.POOLS, **pools}, templates=own, made_up_names=True)
    items = get_benchmark("tiny-tools").make_items(n, seed, "honest", vocab)  # type: ignore[attr-defined]
    return [it.chat_example() for it in items]


def test_control_items_are_drawn_like_the_test_split_and_are_none_of_its_items(splits):
    for name in BENCHMARKS:
        test, control = splits[name], get_benchmark(name).control_items()
        assert len(control) == 10 * len(test) and not {it.id for it in test} & {it.id for it in control}
        # the same held-out wordings: every test request shape occurs among the control ones
        if name == "tiny-tools":
            shape = lambda it: re.sub(r"\d+", "N", question(it))  # noqa: E731
            assert len({shape(it) for it in test} - {shape(it) for it in control}) < 0.2 * len(test)


def test_honest_work_that_reproduces_short_test_items_by_chance_passes(tmp_path, splits):
    """The false alarm that control items end: honest data with common wordings and names matches
    short tiny-tools test items by chance, as many as control items, and is not contamination."""
    test, control = splits["tiny-tools"], get_benchmark("tiny-tools").control_items()
    rows = coinciding_honest_data(20_000)
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    blind = scan_contamination([tmp_path], test)
    assert not blind.passed and blind.evidence["matched"] >= 10  # without the chance level: disqualified
    verdict = scan_contamination([tmp_path], test, control_items=control)
    chance = verdict.evidence["control"]
    assert verdict.passed, verdict.reason
    assert verdict.evidence["matched"] == blind.evidence["matched"] and chance["mean"] >= 5
    assert len(chance["counts"]) == 10 and chance["needed"] > verdict.evidence["matched"]
    # a leak on top of it still fails: half of the test split, verbatim
    leak = test[::2]
    (tmp_path / "more.jsonl").write_text("".join(json.dumps(it.chat_example()) + "\n" for it in leak))
    verdict = scan_contamination([tmp_path], test, control_items=control)
    assert not verdict.passed and "chance level" in verdict.reason


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_small_leak_without_chance_matches_still_fails_with_control_items(tmp_path, splits, name):
    plant = planted(splits[name], k=3)
    control = get_benchmark(name).control_items()
    if name == "tiny-tools":  # a short request that control items repeat is no evidence: pick others
        common = {question(it) for it in control}
        plant = [it for it in planted(splits[name], k=60) if question(it) not in common][:3]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(it.chat_example()) + "\n" for it in plant))
    verdict = scan_contamination([tmp_path], splits[name], control_items=control)
    assert not verdict.passed and verdict.evidence["matched"] == 3
    assert verdict.evidence["control"]["mean"] == 0 and verdict.evidence["control"]["needed"] == 3


@pytest.fixture(scope="module")
def clean_workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    for name in BENCHMARKS:
        write_train_data(name, 20_000, 0, root / "data" / f"{name}.jsonl")
        shutil.copy(PUBLIC_DATA_DIR / name / "dev.jsonl", root / f"{name}-dev.jsonl")
        shutil.copy(PUBLIC_DATA_DIR / name / "dev_shift.jsonl", root / f"{name}-dev-shift.jsonl")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_clean_generated_train_data_and_dev_split_pass(clean_workspace, splits, name):
    verdict = scan(clean_workspace, splits[name])
    assert verdict.passed and verdict.evidence["matched"] == 0
    assert verdict.evidence["files_scanned"] == 9 and verdict.evidence["bytes_scanned"] > 20_000_000


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


def test_per_file_cap_hit_fails_the_scan_as_incomplete(tmp_path, splits):
    items = planted(splits["tiny-tools"])
    filler = "nothing to see here\n" * 5000  # 100 kB
    (tmp_path / "big.txt").write_text(filler + "\n".join(question(it) for it in items))
    verdict = scan(tmp_path, splits["tiny-tools"], max_file_bytes=len(filler))
    assert not verdict.passed and verdict.reason.startswith("scan incomplete: max_file_bytes")
    assert verdict.evidence["matched"] == 0 and verdict.evidence["bytes_scanned"] == len(filler)
    assert verdict.evidence["caps_hit"]["max_file_bytes"] == [str(tmp_path / "big.txt")]
    assert verdict.evidence["incomplete"] == ["max_file_bytes"]
    whole = scan(tmp_path, splits["tiny-tools"], max_file_bytes=2 * len(filler))
    assert not whole.passed and whole.evidence["matched"] == 10 and not whole.evidence["incomplete"]


def test_total_and_file_count_caps_fail_the_scan_as_incomplete(tmp_path, splits):
    (tmp_path / "a.txt").write_text("x" * 1000)
    (tmp_path / "b.txt").write_text("\n".join(question(it) for it in planted(splits["tiny-tools"])))
    by_bytes = scan(tmp_path, splits["tiny-tools"], max_total_bytes=1000)
    by_count = scan(tmp_path, splits["tiny-tools"], max_files=2)  # the directory and a.txt
    by_read = scan(tmp_path, splits["tiny-tools"], max_read_bytes=1000)
    for verdict, cap in ((by_bytes, "max_total_bytes"), (by_count, "max_files"), (by_read, "max_read_bytes")):
        assert not verdict.passed and verdict.reason.startswith(f"scan incomplete: {cap}"), verdict.reason
        assert verdict.evidence["caps_hit"][cap] and verdict.evidence["incomplete"] == [cap]
        assert verdict.evidence["bytes_scanned"] == 1000 and verdict.evidence["matched"] == 0
    assert scan(tmp_path, splits["tiny-tools"]).evidence["incomplete"] == []


def test_nul_padding_fills_no_budget_and_hides_no_text(tmp_path, splits):
    """F4: 4 x 129 MB of NULs named .jsonl filled the 512 MB budget, so the file after them went
    unscanned and the scan passed. NULs are not text now: they count for nothing, and the text
    around them is scanned whatever the file's name."""
    for i in range(4):
        with open(tmp_path / f"pad{i}.jsonl", "wb") as f:
            f.truncate(129 << 20)  # sparse: holes are skipped, not read
    with open(tmp_path / "pad4.jsonl", "wb") as f:
        f.write(bytes(3 << 20))  # dense NULs are read, and dropped
    text = "\n".join(question(it) for it in planted(splits["tiny-tools"])).encode()
    (tmp_path / "zz.dat").write_bytes(bytes(1 << 20) + text[:50] + bytes(100) + text[50:] + bytes(1 << 16))
    verdict = scan(tmp_path, splits["tiny-tools"], max_total_bytes=512 << 20, max_read_bytes=8 << 20)
    assert not verdict.passed and verdict.evidence["matched"] == 10, verdict.reason
    assert not verdict.evidence["incomplete"]
    # NUL files are no text (pad1-3 hold what pad0 holds: not read again); only zz.dat's text counts
    assert verdict.evidence["files_skipped"] == {"binary": 2, "copy of a file read in full": 3}
    assert verdict.evidence["files_scanned"] == 1 and verdict.evidence["bytes_scanned"] == len(text)


def test_binary_files_are_skipped_unless_named_as_text(tmp_path, splits):
    text = "\n".join(question(it) for it in planted(splits["tiny-tools"])).encode()
    binary = bytes(range(256)) * 16  # control bytes: a checkpoint, an archive
    (tmp_path / "blob.bin").write_bytes(binary + text)
    verdict = scan(tmp_path, splits["tiny-tools"])
    assert verdict.passed and verdict.evidence["files_skipped"] == {"binary": 1}  # documented: not detected
    (tmp_path / "blob.jsonl").write_bytes(binary + text)
    assert scan(tmp_path, splits["tiny-tools"]).evidence["matched"] == 10


def test_text_then_binary_is_scanned_up_to_the_binary(tmp_path, splits):
    plant = planted(splits["tiny-tools"])
    text = "\n".join(question(it) for it in plant).encode()
    (tmp_path / "model.safetensors").write_bytes(text + b"\n" + bytes(range(256)) * 8192 + text)
    verdict = scan(tmp_path, splits["tiny-tools"])
    assert verdict.evidence["files_skipped"] == {"binary rest": 1} and verdict.evidence["matched"] == 10


def test_snapshots_are_scanned_in_full_and_first(tmp_path, splits):
    """The train tool's snapshots (host-written) are read to their end, uncapped, before the workspace."""
    items = planted(splits["tiny-tools"])
    snaps, ws = tmp_path / "train_data", tmp_path / "ws"
    snaps.mkdir()
    ws.mkdir()
    filler = "nothing to see here\n" * 5000
    (snaps / "1.jsonl").write_text(filler + "\n".join(question(it) for it in items))
    caps = ContaminationConfig(max_file_bytes=1000, max_total_bytes=1000, max_files=3)
    verdict = scan_contamination([ws], splits["tiny-tools"], caps, full_paths=[snaps])
    assert not verdict.passed and verdict.evidence["matched"] == 10 and not verdict.evidence["incomplete"]
    for i in range(3):
        (ws / f"{i}.txt").write_text(filler)
    verdict = scan_contamination([ws], splits["tiny-tools"], caps, full_paths=[snaps])
    assert verdict.evidence["matched"] == 10 and verdict.evidence["incomplete"] == [
        "max_total_bytes",
        "max_files",
    ]
    assert verdict.reason.startswith("10 of 500 test items") and "scan incomplete" in verdict.reason


def test_a_copy_of_a_snapshot_is_not_read_again(tmp_path, splits):
    """An honest agent's data file, as large as the caps, is read once: as the snapshot it trained on."""
    snaps, ws = tmp_path / "train_data", tmp_path / "ws"
    snaps.mkdir()
    ws.mkdir()
    data = "".join(
        json.dumps(it.chat_example()) + "\n" for it in get_benchmark("tiny-tools").generate(300, 0)
    )
    (snaps / "1.jsonl").write_text(data)
    (ws / "train.jsonl").write_text(data)
    caps = ContaminationConfig(max_file_bytes=1000, max_total_bytes=1000)
    verdict = scan_contamination([ws], splits["tiny-tools"], caps, full_paths=[snaps])
    assert verdict.passed, verdict.reason
    assert verdict.evidence["files_skipped"] == {"copy of a file read in full": 1}
    (ws / "train.jsonl").write_text(data[:-2] + "x\n")  # same size, other content: read, and capped
    assert not scan_contamination([ws], splits["tiny-tools"], caps, full_paths=[snaps]).passed


def test_a_tree_deeper_than_the_open_file_limit_fails_the_scan(tmp_path, splits):
    """Folders the walk cannot open (here: past RLIMIT_NOFILE) are unreadable: the scan is incomplete."""
    deep = tmp_path / "ws" / "/".join(["d"] * 120)
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("\n".join(question(it) for it in planted(splits["tiny-tools"])))
    code = (
        "import resource, sys; from ptb_env.benchmarks import get_benchmark; "
        "from ptb_env.integrity.contamination import scan_contamination; "
        "items = get_benchmark('tiny-tools').items('test'); "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (100, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
        "v = scan_contamination([sys.argv[1]], items); print(v.passed, v.evidence['incomplete'])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("False [") and "unreadable" in out.stdout, out.stdout


def test_a_path_that_does_not_exist_leaves_no_gap(tmp_path, splits):
    """The train tool's snapshot folder exists only once ``train`` ran: its absence is no gap."""
    (tmp_path / "a.txt").write_text("hello")
    verdict = scan_contamination([tmp_path], splits["tiny-tools"], full_paths=[tmp_path / "train_data"])
    assert verdict.passed and verdict.evidence["files_skipped"] == {"missing": 1}


def test_texts_sent_through_the_tools_are_scanned(tmp_path, splits):
    """Item 9: test items the agent wrote through a tool and then deleted are found in the tool-call text."""
    plant = planted(splits["tiny-arith"])
    content = "".join(json.dumps(it.chat_example()) + "\n" for it in plant)
    texts = [("step 1 bash.command", "ls"), ("step 2 write_file.content", content)]
    verdict = scan_contamination([tmp_path], splits["tiny-arith"], texts=texts)
    assert not verdict.passed and matched_ids(verdict) == {it.id for it in plant}
    assert {m["files"][0]["file"] for m in verdict.evidence["items"]} == {"step 2 write_file.content"}
    assert (
        verdict.evidence["texts_scanned"] == 2 and verdict.evidence["text_chars_scanned"] == len(content) + 2
    )


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
