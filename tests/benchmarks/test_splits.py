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


def test_heldout_vocabulary_is_absent_from_public_code():
    heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text())
    secrets = set(heldout["tiny-arith"]["names"]) | set(heldout["tiny-tools"]["pools"]["city"])
    public_code = "\n".join(p.read_text() for p in PACKAGE_DIR.rglob("*.py"))
    public_data = "\n".join(p.read_text() for p in (PACKAGE_DIR / "benchmarks" / "data").rglob("*.jsonl"))
    for word in secrets:
        assert not re.search(rf"\b{word}\b", public_code), word
        assert not re.search(rf"\b{word}\b", public_data), word


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
