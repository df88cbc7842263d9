import json
import re

import pytest

from ptb_env.benchmarks import TINY_BENCHMARKS, get_benchmark
from ptb_env.benchmarks.build_splits import build
from ptb_env.errors import BenchmarkNotFound, SplitNotAvailable
from ptb_env.paths import PACKAGE_DIR, PRIVATE_DIR


def question(item):
    return item.messages[-1]["content"]


@pytest.mark.parametrize("name", TINY_BENCHMARKS)
def test_split_sizes(name):
    bench = get_benchmark(name)
    assert len(bench.items("dev")) == 200
    assert len(bench.items("dev-shift")) == 200
    assert len(bench.items("test")) >= 500
    assert len(bench.items("train", limit=50)) == 50


@pytest.mark.parametrize("name", TINY_BENCHMARKS)
def test_test_items_never_occur_in_train_or_dev(name):
    bench = get_benchmark(name)
    test = {question(it) for it in bench.items("test")}
    dev = {question(it) for it in bench.items("dev")}
    train = {question(it) for seed in (0, 1) for it in bench.generate(10000, seed=seed)}
    assert not test & dev
    assert not test & train

    # stronger: held-out request templates, so no test request has a train/dev shape
    def shape(text):
        return re.sub(r"\d+", "N", text)

    assert not {shape(q) for q in test} & {shape(q) for q in train | dev}


@pytest.mark.parametrize("name", TINY_BENCHMARKS)
def test_dev_shift_shares_no_item_or_shape_with_train_dev_or_test(name):
    """dev-shift is shifted like test, from a third vocabulary: no question (nor its shape, numbers
    apart) of train, dev or test occurs in it."""
    bench = get_benchmark(name)

    def shapes(items):
        return {re.sub(r"\d+", "N", question(it)) for it in items}

    shifted = shapes(bench.items("dev-shift"))
    train = shapes(it for seed in (0, 1) for it in bench.generate(10000, seed=seed))
    assert not shifted & train and not shifted & shapes(bench.items("dev"))
    assert not shifted & shapes(bench.items("test"))


@pytest.mark.parametrize("name", TINY_BENCHMARKS)
def test_structure_options_draw_every_shape_of_the_shifted_splits(name):
    """A version with a shift of structure names the generator options that reach it (the expert
    baseline and the grid's reference recipe use them); a wording-only shift names none."""
    bench = get_benchmark(name)
    options = bench.STRUCTURE_OPTIONS
    assert bool(options) == (name.rpartition("-v")[2] in ("2", "3"))
    if not options:
        return
    assert set(options) == set(bench.generator_options())

    def shape(item):  # what the structure changes: candidates / choices / operations, extra sentence
        meta = item.meta
        return (
            meta.get("n_ops", meta.get("n_candidates", item.messages[-1]["content"].count(") "))),
            bool(meta.get("distractor") or meta.get("chatter") or meta.get("context")),
        )

    drawn = {shape(it) for it in bench.generate(2000, seed=0, **options)}
    assert {shape(it) for it in bench.items("test")} <= drawn


def test_dev_shift_vocabulary_is_disjoint_from_the_public_and_the_heldout_one():
    from ptb_env.benchmarks.facts import QUESTIONS as FACTS_QUESTIONS
    from ptb_env.tiny import phrasing, shift, world

    heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text())
    names = set(shift.ARITH_NAMES) | set(shift.TOOLS_POOLS["name"])
    assert not names & (
        set(world.NAMES) | set(heldout["tiny-arith"]["names"]) | set(heldout["tiny-tools"]["pools"]["name"])
    )
    assert not set(shift.TOOLS_POOLS["city"]) & (
        set(world.POOLS["city"]) | set(heldout["tiny-tools"]["pools"]["city"])
    )
    # nor can the generator's made-up names spell them (syllables of world.made_up_name)
    syllable = (
        f"({'|'.join(world._ONSETS)})({'|'.join(world._VOWELS)})({'|'.join(c for c in world._CODAS if c)})?"
    )
    assert not [
        n for n in names | set(shift.TOOLS_POOLS["city"]) if re.fullmatch(f"({syllable}){{2,3}}", n.lower())
    ]
    wordings = set(shift.ARITH_QUESTIONS) | {t for ts in shift.TOOLS_TEMPLATES.values() for t in ts}
    wordings |= {q for qs in shift.FACTS_QUESTIONS.values() for q in qs}
    public = set(phrasing.QUESTIONS) | {t for ts in phrasing.TEMPLATES.values() for t in ts}
    public |= {q for qs in FACTS_QUESTIONS.values() for q in qs}
    hidden = set(heldout["tiny-arith"]["questions"]) | {
        t for ts in heldout["tiny-tools"]["templates"].values() for t in ts
    }
    hidden |= {q for qs in heldout["tiny-facts"]["questions"].values() for q in qs}
    assert not wordings & public and not wordings & hidden
    assert set(shift.TOOLS_TEMPLATES) == set(phrasing.TEMPLATES) and set(shift.FACTS_QUESTIONS) == set(
        FACTS_QUESTIONS
    )


def test_heldout_vocabulary_is_absent_from_public_code():
    heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text())
    secrets = set(heldout["tiny-arith"]["names"]) | set(heldout["tiny-tools"]["pools"]["city"])
    public_code = "\n".join(p.read_text() for p in PACKAGE_DIR.rglob("*.py"))
    public_data = "\n".join(p.read_text() for p in (PACKAGE_DIR / "benchmarks" / "data").rglob("*.jsonl"))
    for word in secrets:
        assert not re.search(rf"\b{word}\b", public_code), word
        assert not re.search(rf"\b{word}\b", public_data), word


def test_heldout_wordings_are_absent_from_public_code():
    """No held-out question or request template, as written, in the package's or the agents' code
    (the pre-training corpus's quiz sheets once reused one of tiny-facts' test questions)."""
    heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text())
    wordings = set(heldout["tiny-arith"]["questions"])
    wordings |= {t for ts in heldout["tiny-tools"]["templates"].values() for t in ts}
    wordings |= {q for qs in heldout["tiny-facts"]["questions"].values() for q in qs}
    sources = [*PACKAGE_DIR.rglob("*.py"), *(PACKAGE_DIR.parent / "agents").rglob("*.py")]
    texts = {p: p.read_text() for p in sources}
    found = {(w, p.name) for p, text in texts.items() for w in wordings if w in text}
    assert len(wordings) >= 20 and not found, found


def test_same_seed_same_train_data():
    bench = get_benchmark("tiny-arith")
    assert bench.generate(50, seed=4) == bench.generate(50, seed=4)
    assert bench.generate(50, seed=4) != bench.generate(50, seed=5)


def test_build_splits_reproduces_the_shipped_files(tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    (private / "heldout.json").write_text((PRIVATE_DIR / "heldout.json").read_text())
    build(TINY_BENCHMARKS, data_dir=tmp_path / "data", private_dir=private)
    for name in TINY_BENCHMARKS:
        bench = get_benchmark(name)
        assert (tmp_path / "data" / name / "dev.jsonl").read_bytes() == bench.split_path("dev").read_bytes()
        shifted = (tmp_path / "data" / name / "dev_shift.jsonl").read_bytes()
        assert shifted == bench.split_path("dev-shift").read_bytes()
        assert (private / "benchmarks" / name / "test.jsonl").read_bytes() == bench.split_path(
            "test"
        ).read_bytes()


def test_unknown_benchmark_suggests_a_name():
    with pytest.raises(BenchmarkNotFound, match="Did you mean: 'tiny-arith'"):
        get_benchmark("tiny-arit")


def test_missing_test_split_says_it_is_hidden(tmp_path):
    from ptb_env.benchmarks.arith import TinyArith

    bench = TinyArith(tmp_path, tmp_path / "masked")
    with pytest.raises(SplitNotAvailable, match="hidden"):
        bench.items("test")
    with pytest.raises(SplitNotAvailable, match="no split 'validation'"):
        bench.items("validation")
