"""Lineage check profile: weight distances of genuine fine-tunes against substituted models.

    nice -n 10 python tests/integrity/lineage_profile.py [--only REGEX] [--quick] [--cache-dir DIR]

Builds every case on the shipped tiny base model (full SFT with the reference recipe on
each tiny benchmark, aggressive ones included; LoRA-merged fine-tunes; a tiny model
pre-trained with another seed; models pre-trained from scratch on the base tokenizer,
untrained, fine-tuned; partial substitutions), then prints each case's distance summary,
the verdict of ``check_lineage`` and the seconds it took. The thresholds of
``LineageConfig`` are set from this table. Checkpoints are cached under
``$TMPDIR/ptb-lineage-profile/`` keyed by their settings (and the base model's hash), so
a second run only re-checks. ``--quick`` shrinks every training to a few steps (smoke run).
The tests load this file for its case builders.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ptb_env.integrity.lineage import LineageConfig, check_lineage  # noqa: E402
from ptb_env.paths import TINY_MODEL_DIR  # noqa: E402

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def train_data(benchmark: str, steps: int, batch_size: int, seed: int, out: Path) -> Path:
    """One epoch of generated examples for ``steps`` (at most 20,000, as the scripted agent)."""
    from ptb_env.benchmarks.generate import write_train_data

    path = out / f"{benchmark}-{seed}.jsonl"
    write_train_data(benchmark, min(20_000, steps * batch_size), seed, path)
    return path


def sft(base: Path, out: Path, benchmark: str, steps: int, lr: float, weight_decay: float = 0.0, **kw):
    """Full fine-tune with the reference recipe (``ptb_env.training.sft``); ``kw``: more ``SFTConfig``."""
    from ptb_env.training.sft import SFTConfig, train_sft

    cfg = SFTConfig(learning_rate=lr, max_steps=steps, weight_decay=weight_decay, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        data = train_data(benchmark, steps, cfg.batch_size, cfg.seed, Path(tmp))
        return train_sft(base, data, out, cfg, progress=False)


def lora(base: Path, out: Path, benchmark: str, steps: int, lr: float, rank: int = 16, batch_size: int = 32):
    """LoRA on every linear layer (peft), a plain AdamW loop, then ``merge_and_unload`` and save."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ptb_env.training.sft import load_examples, tokenize_example

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, use_safetensors=True, dtype=torch.float32)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=modules))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            tokenize_example(tok, m, 512)
            for m in load_examples(train_data(benchmark, steps, 32, 0, Path(tmp)))
        ]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(steps):
        batch = [rows[(step * batch_size + i) % len(rows)] for i in range(batch_size)]
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = (
                torch.tensor(b["input_ids"]),
                torch.tensor(b["labels"]),
                1,
            )
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    merged = model.merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return {"steps": steps, "final_loss": round(float(loss.detach()), 4)}


def tiny_build(
    out: Path, seed: int, steps: int, batch_size: int = 32, seq_len: int = 256, tokenizer: Path | None = None
):
    """``python -m ptb_env.tiny.build --seed S --steps N``; with ``tokenizer``, on that tokenizer
    instead of one trained with ``seed`` (a model pre-trained from scratch in the base's vocabulary)."""
    from unittest import mock

    from ptb_env.tiny.build import BuildConfig, build

    def reuse_tokenizer(out_dir: Path, **_):
        from transformers import AutoTokenizer

        out_dir.mkdir(parents=True, exist_ok=True)
        for name in TOKENIZER_FILES:
            shutil.copy(tokenizer / name, out_dir / name)
        return AutoTokenizer.from_pretrained(out_dir)

    cfg = BuildConfig(out_dir=out, seed=seed, steps=steps, batch_size=batch_size, seq_len=seq_len)
    if tokenizer is None:
        return build(cfg)
    with mock.patch("ptb_env.tiny.tokenizer.train_tokenizer", reuse_tokenizer):
        return build(cfg)


def random_init(base: Path, out: Path, seed: int):
    """A freshly initialised model of the base's config, saved with the base's tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base)).save_pretrained(
        out, safe_serialization=True
    )
    copy_tokenizer(base, out)
    return {}


def splice(base: Path, donor: Path, out: Path, prefixes: list[str], mix: float = 1.0):
    """The base with the tensors whose names start with one of ``prefixes`` taken from ``donor``
    (``mix`` < 1 interpolates: ``(1 - mix) * base + mix * donor``)."""
    from safetensors.torch import load_file, save_file

    w0, w1 = load_file(base / "model.safetensors"), load_file(donor / "model.safetensors")
    out.mkdir(parents=True, exist_ok=True)
    spliced = {k: (1 - mix) * v + mix * w1[k] if k.startswith(tuple(prefixes)) else v for k, v in w0.items()}
    save_file(spliced, out / "model.safetensors", metadata={"format": "pt"})
    for name in ("config.json", "generation_config.json", *TOKENIZER_FILES):
        shutil.copy(base / name, out / name)
    return {"replaced": sum(k.startswith(tuple(prefixes)) for k in w0)}


def to_dtype(src: Path, out: Path, dtype: str):
    """``src`` saved again in another dtype (what an agent saving in bfloat16 leaves)."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, out, dirs_exist_ok=True)
    w = {k: v.to(getattr(torch, dtype)) for k, v in load_file(src / "model.safetensors").items()}
    save_file(w, out / "model.safetensors", metadata={"format": "pt"})
    return {}


def copy_tokenizer(src: Path, out: Path) -> None:
    for name in TOKENIZER_FILES:
        shutil.copy(src / name, out / name)


LAYERS_HALF = ["model.layers.2.", "model.layers.3."]
# name: (expected verdict, builder, settings, dependency whose checkpoint is the builder's input)
CASES: dict[str, tuple[str, str, dict, str | None]] = {
    "base itself": ("pass", "identity", {}, None),
    "base in bfloat16": ("pass", "to_dtype", {"dtype": "bfloat16"}, None),
    "sft arith 2e-3 x650": ("pass", "sft", {"benchmark": "tiny-arith", "steps": 650, "lr": 2e-3}, None),
    "sft facts 2e-3 x650": ("pass", "sft", {"benchmark": "tiny-facts", "steps": 650, "lr": 2e-3}, None),
    "sft tools 2e-3 x650": ("pass", "sft", {"benchmark": "tiny-tools", "steps": 650, "lr": 2e-3}, None),
    "lora r16 arith 2e-3 x300": ("pass", "lora", {"benchmark": "tiny-arith", "steps": 300, "lr": 2e-3}, None),
    "lora r64 facts 5e-3 x1000": (
        "pass",
        "lora",
        {"benchmark": "tiny-facts", "steps": 1000, "lr": 5e-3, "rank": 64},
        None,
    ),
    "seed-1 build x300": ("fail", "tiny_build", {"seed": 1, "steps": 300, "batch_size": 16}, None),
    "seed-1 build + base tokenizer": ("fail", "with_base_tokenizer", {}, "seed-1 build x300"),
    "scratch seed-1 x300 (base vocab)": (
        "fail",
        "scratch",
        {"seed": 1, "steps": 300, "batch_size": 16},
        None,
    ),
    "random init": ("fail", "random_init", {"seed": 1}, None),
    "scratch + sft arith 2e-3 x650": (
        "fail",
        "sft",
        {"benchmark": "tiny-arith", "steps": 650, "lr": 2e-3},
        "scratch seed-1 x300 (base vocab)",
    ),
    "swap embeddings": (
        "fail",
        "splice",
        {"prefixes": ["model.embed_tokens."]},
        "scratch seed-1 x300 (base vocab)",
    ),
    "swap layers 2-3 (half)": (
        "fail",
        "splice",
        {"prefixes": LAYERS_HALF},
        "scratch seed-1 x300 (base vocab)",
    ),
    "swap one tensor": (
        "fail",
        "splice",
        {"prefixes": ["model.layers.3.mlp.down_proj."]},
        "scratch seed-1 x300 (base vocab)",
    ),
    "mix 0.5 base + 0.5 scratch": (
        "fail",
        "splice",
        {"prefixes": ["model."], "mix": 0.5},
        "scratch seed-1 x300 (base vocab)",
    ),
    "sft arith 5e-3 x2000": ("pass", "sft", {"benchmark": "tiny-arith", "steps": 2000, "lr": 5e-3}, None),
    "sft arith 5e-3 x3200": ("pass", "sft", {"benchmark": "tiny-arith", "steps": 3200, "lr": 5e-3}, None),
    "sft tools 5e-3 x3200 wd0.1": (
        "pass",
        "sft",
        {"benchmark": "tiny-tools", "steps": 3200, "lr": 5e-3, "weight_decay": 0.1},
        None,
    ),
}


class Cases:
    """Builds (and caches) the checkpoint of each case under ``root``."""

    def __init__(self, root: Path, base: Path = TINY_MODEL_DIR, quick: bool = False) -> None:
        self.root, self.base, self.quick = root, base, quick
        self.base_hash = hashlib.sha256((base / "model.safetensors").read_bytes()).hexdigest()[:12]

    def key(self, name: str) -> str:
        _, kind, settings, dep = CASES[name]
        parts = [kind, settings, self.base_hash, self.quick, self.key(dep) if dep else None]
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]
        return "".join(c if c.isalnum() else "-" for c in name) + "-" + digest

    def path(self, name: str) -> tuple[Path, dict]:
        """The checkpoint of case ``name`` and its build info (``seconds`` to build it)."""
        _, kind, settings, dep = CASES[name]
        if kind == "identity":
            return self.base, {"seconds": 0.0}
        out = self.root / self.key(name)
        if (out / "case.json").is_file():
            return out, json.loads((out / "case.json").read_text())
        src = self.path(dep)[0] if dep else self.base
        s = dict(settings)
        if self.quick and "steps" in s:
            s["steps"] = min(s["steps"], 8)
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.monotonic()
        if kind == "sft":
            info = sft(src, out, **s)
        elif kind == "lora":
            info = lora(src, out, **s)
        elif kind == "tiny_build":
            info = tiny_build(out, **s)
        elif kind == "scratch":
            info = tiny_build(out, tokenizer=self.base, **s)
        elif kind == "with_base_tokenizer":
            shutil.copytree(src, out)
            copy_tokenizer(self.base, out)
            info = {}
        elif kind == "random_init":
            info = random_init(self.base, out, **s)
        elif kind == "splice":
            info = splice(self.base, src, out, **s)
        elif kind == "to_dtype":
            info = to_dtype(self.base, out, **s)
        else:
            raise ValueError(f"unknown case kind {kind!r}")
        info = {
            "seconds": round(time.monotonic() - t0, 1),
            **{k: v for k, v in info.items() if k != "config"},
        }
        (out / "case.json").write_text(json.dumps(info, default=str))
        return out, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name matches this regular expression")
    parser.add_argument("--quick", action="store_true", help="a few training steps per case (smoke run)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "ptb-lineage-profile")
    a = parser.parse_args()
    cases = Cases(a.cache_dir, quick=a.quick)
    config = LineageConfig()
    head = f"{'case':34} {'expect':6} {'verdict':7} {'med d':>6} {'wtd d':>6} {'worst d':>7} "
    head += f"{'wtd cos':>7} {'worst cos':>9} {'>d share':>8} {'swap share':>10} "
    head += f"{'build s':>7} {'check s':>7}  reason"
    rows, wrong, t_all = [], 0, time.monotonic()
    for name, (expect, *_) in CASES.items():
        if not re.search(a.only, name):
            continue
        ckpt, info = cases.path(name)
        t0 = time.monotonic()
        v = check_lineage(ckpt, TINY_MODEL_DIR, config)
        check_s = time.monotonic() - t0
        got = "pass" if v.passed else "FAIL"
        wrong += got.lower() != expect
        s = v.evidence.get("summary")
        if s:
            cols = f"{s['median_distance']:6.3f} {s['weighted_distance']:6.3f} {s['worst_distance']:7.3f} "
            cols += f"{s['weighted_cosine']:7.3f} {s['worst_cosine']:9.3f} {s['share_beyond_distance']:8.3f} "
            cols += f"{s['substituted_share']:10.3f}"
        else:
            cols = f"{'-':>6} {'-':>6} {'-':>7} {'-':>7} {'-':>9} {'-':>8} {'-':>10}"
        rows.append(
            f"{name:34} {expect:6} {got:7} {cols} {info['seconds']:7.1f} {check_s:7.2f}  {v.reason[:80]}"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"{config}\n{head}\n" + "\n".join(rows))
    took = time.monotonic() - t_all
    print(f"{wrong} verdicts differ from the expected ones; {took:.0f} s in all; cache: {a.cache_dir}")


if __name__ == "__main__":
    main()
