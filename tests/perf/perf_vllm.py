"""Evaluation speed: the vLLM backend (CPU build here) against the transformers backend.

    python tests/perf/perf_vllm.py [--model DIR] [--benchmark tiny-arith] [--split test] [--n N] [--threads T]

Both generate greedy completions of the same items (read on the host through the
benchmark, the hidden test split by default) with the same model and token limit, in
the same process. Prints wall seconds of each and the ratio vLLM / transformers (below
1: vLLM is faster), once with model loading / engine start-up excluded (generation
only) and once included (the whole call), plus the share of identical completions.
Each backend runs ``--repeats`` times, alternating, and the faster run counts.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_env.benchmarks import get_benchmark
    from ptb_env.inference import has_gpu, score_items
    from ptb_env.inference import transformers_backend as tb
    from ptb_env.inference import vllm_backend as vb
    from ptb_env.paths import TINY_MODEL_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(TINY_MODEL_DIR))
    p.add_argument("--benchmark", default="tiny-arith")
    p.add_argument("--split", default="test")
    p.add_argument("--n", type=int, default=None, help="first N items (default: all)")
    p.add_argument("--batch-size", type=int, default=64, help="transformers batch size")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads of the transformers run (default: torch's)"
    )
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)  # on a busy machine, 1 thread avoids OpenMP spin-waiting

    bench = get_benchmark(a.benchmark)
    items = bench.items(a.split, limit=a.n)
    prompts = [it.messages for it in items]
    settings = vb.VLLMSettings() if has_gpu() else vb.VLLMSettings.for_cpu()

    def transformers_run() -> tuple[float, float, list[str]]:
        t0 = time.perf_counter()
        model, tok = tb.load(a.model)
        t1 = time.perf_counter()
        gen = tb.GenerationSettings(max_new_tokens=bench.max_new_tokens, batch_size=a.batch_size)
        out = tb.generate(model, tok, prompts, gen, progress=False)
        t2 = time.perf_counter()
        return t2 - t1, t2 - t0, out

    def vllm_run() -> tuple[float, float, list[str], float]:
        t0 = time.perf_counter()
        gen = vb.generate(a.model, prompts, bench.max_new_tokens, settings=settings)
        return gen.generate_s, time.perf_counter() - t0, gen.completions, gen.startup_s

    tf_gen, tf_all, vl_gen, vl_all, vl_start = [], [], [], [], []
    for _ in range(a.repeats):
        g, w, tf_out = transformers_run()
        tf_gen.append(g)
        tf_all.append(w)
        g, w, vl_out, s = vllm_run()
        vl_gen.append(g)
        vl_all.append(w)
        vl_start.append(s)
    tf_score, _ = score_items(bench, items, tf_out)
    vl_score, _ = score_items(bench, items, vl_out)
    same = sum(x == y for x, y in zip(tf_out, vl_out, strict=True))
    print(
        f"model={a.model} benchmark={a.benchmark} split={a.split} items={len(items)} "
        f"max_new_tokens={bench.max_new_tokens} torch_threads={torch.get_num_threads()} "
        f"device={'cuda' if has_gpu() else 'cpu'} repeats={a.repeats}"
    )
    print(f"vLLM settings: {settings}")
    print(
        f"transformers: generate {min(tf_gen):7.2f} s ({len(items) / min(tf_gen):6.1f} items/s), "
        f"with loading {min(tf_all):7.2f} s; score {tf_score:.3f}"
    )
    print(
        f"vLLM:         generate {min(vl_gen):7.2f} s ({len(items) / min(vl_gen):6.1f} items/s), "
        f"with start-up {min(vl_all):7.2f} s (engine start-up {min(vl_start):.2f} s); score {vl_score:.3f}"
    )
    print(f"ratio vLLM / transformers, start-up excluded: {min(vl_gen) / min(tf_gen):.2f}")
    print(f"ratio vLLM / transformers, start-up included: {min(vl_all) / min(tf_all):.2f}")
    print(f"identical completions: {same}/{len(items)} = {same / len(items):.3f}")


if __name__ == "__main__":
    main()
