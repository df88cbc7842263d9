"""Builds the tiny base model: tokenizer, then pre-training from the seeded corpus.

``python -m ptb_env.tiny.build`` rebuilds the shipped model in
``ptb_env/tiny/model`` (see ``--help``); the same arguments give the same files on
the same CPU and torch version. Tests run it for a few steps only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ptb_env.paths import TINY_GRID_DIR, TINY_MODEL_DIR


@dataclass(frozen=True)
class BuildConfig:
    """Settings of the tiny base model's build."""

    out_dir: Path = TINY_MODEL_DIR
    """Where the HF model directory is written."""
    seed: int = 0
    """Seed of the corpus, the tokenizer sample and the initial weights."""
    steps: int = 1200
    """Optimizer steps of pre-training."""
    batch_size: int = 32
    """Sequences per step."""
    seq_len: int = 256
    """Tokens per sequence (documents are packed)."""
    lr: float = 3e-3
    """Peak learning rate (cosine decay, short warm-up)."""
    hidden_size: int = 192
    layers: int = 4
    heads: int = 6
    kv_heads: int = 2
    intermediate_size: int = 512
    vocab_size: int = 2048
    """Upper bound; the BPE trainer stops earlier when the corpus has fewer merges."""
    digits: str = "single"
    """Numbers as single digits (Qwen) or runs of digits BPE may merge (``"grouped"``)."""
    chat_format: str = "chatml"
    """Chat format of the tokenizer (``ptb_env.tiny.tokenizer.CHAT_FORMATS``)."""
    quiz: float = 0.0
    """Share of quiz sheets about the public people in the corpus (``corpus.quiz_doc``)."""


#: The tiny grid's base models, built by ``python -m ptb_env.tiny.build --preset NAME``. They
#: differ the way PostTrainBench's do: in size, in pre-training length, and in tokenizer and chat
#: format. ``tiny-2m`` is the shipped default model (``ptb_env/tiny/model``).
PRESETS: dict[str, BuildConfig] = {
    "tiny-2m": BuildConfig(),
    "tiny-1m-short": BuildConfig(
        out_dir=TINY_GRID_DIR / "tiny-1m-short",
        steps=400,
        hidden_size=128,
        layers=3,
        heads=4,
        kv_heads=2,
        intermediate_size=352,
    ),
    "tiny-2m-gemma": BuildConfig(
        out_dir=TINY_GRID_DIR / "tiny-2m-gemma",
        steps=600,
        vocab_size=1536,
        digits="grouped",
        chat_format="turns",
    ),
}


def model_config(cfg: BuildConfig, tokenizer):
    """The ``Qwen3Config`` of the tiny model."""
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.hidden_size // cfg.heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        pad_token_id=tokenizer.pad_token_id,
    )


def packed_blocks(cfg: BuildConfig, tokenizer):
    """Token blocks of ``seq_len`` from the corpus, enough for ``steps`` steps."""
    import torch

    from ptb_env.tiny.corpus import documents

    need = cfg.steps * cfg.batch_size * cfg.seq_len
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    ids: list[int] = []
    stream = documents(cfg.seed + 1, cfg.quiz)
    while len(ids) < need:
        docs = list(itertools.islice(stream, 2000))
        for row in tokenizer(docs, add_special_tokens=False)["input_ids"]:
            ids.extend(row)
            ids.append(eot)
    return torch.tensor(ids[:need], dtype=torch.long).view(-1, cfg.seq_len)


def build(cfg: BuildConfig) -> dict:
    """Train tokenizer and model, save both to ``cfg.out_dir``; returns build info."""
    import torch
    from torch.utils.data import Dataset
    from transformers import GenerationConfig, Qwen3ForCausalLM, Trainer, TrainingArguments, set_seed

    from ptb_env.tiny.tokenizer import train_tokenizer

    t0 = time.time()
    out = Path(cfg.out_dir)
    tokenizer = train_tokenizer(
        out, seed=cfg.seed, vocab_size=cfg.vocab_size, digits=cfg.digits, chat_format=cfg.chat_format
    )
    blocks = packed_blocks(cfg, tokenizer)
    set_seed(cfg.seed)
    model = Qwen3ForCausalLM(model_config(cfg, tokenizer))

    class Blocks(Dataset):
        def __len__(self) -> int:
            return len(blocks)

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": blocks[i], "labels": blocks[i]}

    args = TrainingArguments(
        output_dir=str(out / ".trainer"),
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_steps=min(30, cfg.steps // 10),
        weight_decay=0.1,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        logging_steps=max(1, cfg.steps // 20),
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Blocks())
    t1 = time.time()
    result = trainer.train()
    train_seconds = time.time() - t1
    model.generation_config = GenerationConfig(
        do_sample=False,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=64,
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]  # the last logged loss
    info = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens": int(blocks.numel()),
        "final_loss": round(losses[-1] if losses else float(result.training_loss), 4),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - t0, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    (out / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    for f in out.iterdir():  # readable by the sandbox's unprivileged user
        f.chmod(0o644)
    shutil.rmtree(out / ".trainer", ignore_errors=True)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="tiny-2m", help="which base model (default: tiny-2m)"
    )
    parser.add_argument("--out-dir", type=Path, help="default: the preset's directory")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--quiz", type=float, help="share of quiz sheets in the corpus")
    a = parser.parse_args()
    overrides = {k: v for k, v in vars(a).items() if k != "preset" and v is not None}
    info = build(replace(PRESETS[a.preset], **overrides))
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
