"""Evaluation throughput: ptb_env's evaluate() against a plain model.generate loop.

    python tests/perf/perf_eval.py [--model DIR] [--benchmark tiny-arith] [--n 500]

Both run the same prompts with the same model, batch size and token limit, in the
same process; each is timed twice (alternating) and the faster run counts. Prints
wall seconds of each and the throughput ratio reference_seconds / evaluate_seconds
(goal >= 0.8: the shared evaluation path costs at most 25% over raw generate).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from ptb_env.benchmarks import get_benchmark
    from ptb_env.inference import evaluate
    from ptb_env.inference.transformers_backend import load, render
    from ptb_env.paths import TINY_MODEL_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(TINY_MODEL_DIR))
    p.add_argument("--benchmark", default="tiny-arith")
    p.add_argument("--split", default="test")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args()

    bench = get_benchmark(a.benchmark)
    items = bench.items(a.split, limit=a.n)
    model, tok = load(a.model)

    def reference() -> float:
        ids = render(tok, [it.messages for it in items])
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(ids), a.batch_size):
                enc = tok.pad({"input_ids": ids[i : i + a.batch_size]}, return_tensors="pt")
                out = model.generate(
                    **enc, max_new_tokens=bench.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
                )
                tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return time.perf_counter() - t

    def ours() -> tuple[float, float]:
        t = time.perf_counter()
        r = evaluate(
            a.model,
            bench,
            a.split,
            limit=a.n,
            batch_size=a.batch_size,
            model=model,
            tokenizer=tok,
            progress=False,
        )
        return time.perf_counter() - t, r.score

    ref_s, our_s = [], []
    for _ in range(2):
        ref_s.append(reference())
        seconds, score = ours()
        our_s.append(seconds)
    ref, our = min(ref_s), min(our_s)
    print(
        f"model={a.model} benchmark={a.benchmark} split={a.split} items={len(items)} "
        f"threads={torch.get_num_threads()}"
    )
    print(f"evaluate():          {our:7.2f} s  ({len(items) / our:6.1f} items/s, score {score:.3f})")
    print(f"raw generate loop:   {ref:7.2f} s  ({len(items) / ref:6.1f} items/s)")
    print(f"throughput ratio (raw seconds / evaluate seconds): {ref / our:.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    main()
