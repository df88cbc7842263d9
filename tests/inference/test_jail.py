"""The jail: an untrusted checkpoint generates in a child under memory and time limits.

Each limit is tested with a checkpoint that breaks it for real (the F6 RoPE table; a
limit shorter than loading); the zygote serves the next request afterwards.
"""

from __future__ import annotations

import json
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ptb_env.benchmarks import get_benchmark
from ptb_env.errors import JailError
from ptb_env.inference import evaluate, jail
from ptb_env.inference.jail import JailConfig, JailLimits
from ptb_env.inference.transformers_backend import GenerationSettings
from ptb_env.paths import TINY_MODEL_DIR

BENCH = get_benchmark("tiny-facts")


def limits(**kw) -> JailLimits:
    kw = {"memory_bytes": 1 << 30, "timeout_s": 120.0, "threads": torch.get_num_threads(), **kw}
    return JailLimits(**kw)


def prompts(n: int = 16) -> list:
    return [it.messages for it in BENCH.items("dev", limit=n)]


SETTINGS = GenerationSettings(max_new_tokens=BENCH.max_new_tokens, batch_size=64, stop=BENCH.stop)


def write_rope_bomb(model_dir: Path, factor: int = 2**21) -> Path:
    """The tiny model with F6's config.json: with factor 2**21 its RoPE tables want 14-23 GB."""
    shutil.copytree(TINY_MODEL_DIR, model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "linear", "factor": 1, "partial_rotary_factor": factor}
    (model_dir / "config.json").write_text(json.dumps(config))
    return model_dir


@pytest.fixture
def rope_bomb(tmp_path: Path) -> Path:
    return write_rope_bomb(tmp_path / "bomb")


@pytest.fixture
def bounded_zygote() -> Iterator[None]:
    """A zygote (so its children too) under an 8 GiB address-space limit: should the jail's own
    limits regress, a bomb fails the test instead of taking the machine down."""
    jail.shutdown()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    bound = 8 << 30 if soft == resource.RLIM_INFINITY else min(soft, 8 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (bound, hard))
    try:
        jail._zygote(None)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    yield
    jail.shutdown()


def test_jailed_evaluation_equals_the_in_process_one():
    """Same greedy completions and score: the child runs the same load and generate."""
    common = dict(limit=24, batch_size=8, progress=False, backend="transformers")
    here = evaluate(TINY_MODEL_DIR, BENCH, "dev", **common)
    jailed = evaluate(TINY_MODEL_DIR, BENCH, "dev", jail=limits(warm=str(TINY_MODEL_DIR)), **common)
    assert [r["completion"] for r in jailed.records] == [r["completion"] for r in here.records]
    assert (jailed.score, jailed.n) == (here.score, here.n)
    assert set(jailed.timings) == {"load", "generate", "jail"}


@pytest.mark.slow
def test_a_memory_bomb_is_killed_at_the_limit_and_the_zygote_goes_on(rope_bomb: Path, bounded_zygote):
    with pytest.raises(JailError) as info:
        jail.generate(rope_bomb, prompts(2), SETTINGS, limits())
    assert info.value.kind == "memory"
    assert "exceeded the memory limit of 1024 MiB" in str(info.value)
    assert len(jail.generate(TINY_MODEL_DIR, prompts(2), SETTINGS, limits()).completions) == 2


@pytest.mark.slow
def test_the_cgroup_kills_a_child_that_grows_past_it_in_steps(tmp_path: Path, bounded_zygote):
    """Allocations that each fit the address-space limit: the memory cgroup's OOM killer ends the child."""
    from ptb_env.sandbox.cgroups import create_cgroup

    bomb = write_rope_bomb(tmp_path / "bomb", 2**18)  # ~1.7 GB per RoPE table
    cg = create_cgroup("ptb-test-jail", 512 << 20, 256)
    if cg is None:
        pytest.skip("no memory cgroup can be made here")
    try:
        lim = limits(memory_bytes=4 << 30, cgroup_procs=tuple(map(str, cg.procs_files)))
        with pytest.raises(JailError) as info:
            jail.generate(bomb, prompts(2), SETTINGS, lim)
        assert info.value.kind == "memory" and "out-of-memory killer" in str(info.value)
        assert cg.oom_kills() >= 1
    finally:
        cg.remove()


@pytest.mark.slow
def test_a_child_over_its_time_limit_is_killed_and_the_zygote_goes_on():
    with pytest.raises(JailError) as info:
        jail.generate(TINY_MODEL_DIR, prompts(), SETTINGS, limits(timeout_s=0.05))
    assert info.value.kind == "timeout" and "time limit of 0.05 s" in str(info.value)
    assert len(jail.generate(TINY_MODEL_DIR, prompts(2), SETTINGS, limits()).completions) == 2


def test_a_checkpoint_that_does_not_load_is_a_crash_with_its_error(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(JailError) as info:
        jail.generate(tmp_path, prompts(2), SETTINGS, limits())
    assert info.value.kind == "crash" and "Error" in str(info.value)


@pytest.mark.slow
def test_a_gone_zygote_is_replaced():
    jail.generate(TINY_MODEL_DIR, prompts(1), SETTINGS, limits())
    jail._ZYGOTE.proc.kill()  # e.g. it exited when idle
    jail._ZYGOTE.proc.wait()
    assert len(jail.generate(TINY_MODEL_DIR, prompts(1), SETTINGS, limits()).completions) == 1
    jail.shutdown()
    assert jail._ZYGOTE is None


def test_config_sizes_limits_from_the_base_model():
    lim = JailConfig().limits(base_params=2_000_000, items=500, item_s=0.02, threads=2)
    assert lim.memory_bytes == jail.BASE_MEMORY_BYTES + jail.WEIGHT_MEMORY_FACTOR * 4 * 2_000_000
    assert lim.timeout_s == jail.MIN_TIMEOUT_S + jail.TIMEOUT_FACTOR * 0.02 * 500
    assert JailConfig(memory_bytes=1 << 20, timeout_s=5).limits(base_params=1, items=1, item_s=None) == (
        JailLimits(memory_bytes=1 << 20, timeout_s=5.0)
    )
    with pytest.raises(ValueError, match="timeout_s"):
        JailLimits(memory_bytes=1, timeout_s=0)


def test_the_vllm_backend_takes_the_jail_time_limit_where_none_is_set():
    from ptb_env.inference.vllm_backend import VLLMSettings, with_timeout

    assert with_timeout(None, 5.0).timeout_s == 5.0
    assert with_timeout(VLLMSettings(timeout_s=9.0), 5.0).timeout_s == 9.0
