"""Training throughput of candidate tiny-model sizes on this machine (why the shipped size).

    python tests/perf/perf_model_size.py

Builds each Qwen3 configuration with the shipped tokenizer's vocabulary, times a
few optimizer steps of 32 x 256 tokens, and prints parameters, tokens/s and the
time a 1,200-step pre-training and a 3-minute SFT budget would allow, relative
to the shipped configuration measured in the same run.
"""

from __future__ import annotations

import time


def main() -> None:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from ptb_env.paths import TINY_MODEL_DIR

    vocab = len(AutoTokenizer.from_pretrained(TINY_MODEL_DIR))
    sizes = [  # (hidden, layers, heads, kv heads, mlp)
        (128, 4, 4, 2, 384),
        (192, 4, 6, 2, 512),  # shipped
        (192, 6, 6, 2, 512),
        (256, 4, 8, 2, 768),
        (256, 6, 8, 2, 768),
    ]
    rows = []
    for hidden, layers, heads, kv, mlp in sizes:
        torch.manual_seed(0)
        cfg = Qwen3Config(
            vocab_size=vocab,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=hidden // heads,
            intermediate_size=mlp,
            max_position_embeddings=1024,
            tie_word_embeddings=True,
        )
        model = Qwen3ForCausalLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randint(0, vocab, (32, 256))
        times = []
        for _ in range(5):
            t = time.perf_counter()
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t)
        step = sorted(times[1:])[len(times[1:]) // 2]
        rows.append((hidden, layers, sum(p.numel() for p in model.parameters()), step))
    ref = next(r[3] for r in rows if r[:2] == (192, 4))
    print(f"threads={torch.get_num_threads()} vocab={vocab} batch=32x256 tokens")
    print("hidden layers   params  s/step  tokens/s  1200-step build  speed vs shipped")
    for hidden, layers, n, step in rows:
        print(
            f"{hidden:6d} {layers:6d} {n / 1e6:7.2f}M {step:7.2f} {32 * 256 / step:9.0f} "
            f"{1200 * step / 60:12.1f} min {ref / step:12.2f}x"
        )


if __name__ == "__main__":
    main()
