"""Reference SFT recipe: full fine-tuning on chat examples with the transformers Trainer.

Input is a JSONL file with one ``{"messages": [...]}`` chat example per line; the
last message is the assistant reply. The loss covers the reply (and its end-of-turn
token) only. Output is a HF checkpoint (safetensors, tokenizer, generation config).

    python -m ptb_env.training.sft --model BASE_DIR --data train.jsonl --out final_model

It shows the Trainer's progress bar on stderr (``--no-progress`` hides it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ptb_env.errors import PtbEnvError


@dataclass(frozen=True)
class SFTConfig:
    """Hyperparameters of the reference SFT recipe."""

    learning_rate: float = 2e-3
    """Peak learning rate (linear warm-up, cosine decay)."""
    epochs: float = 1.0
    """Passes over the data (ignored when ``max_steps`` > 0)."""
    max_steps: int = -1
    """Optimizer steps; -1 derives them from ``epochs``."""
    batch_size: int = 32
    """Examples per optimizer step."""
    max_length: int = 512
    """Examples are truncated to this many tokens."""
    warmup_ratio: float = 0.05
    """Share of steps spent warming up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_seconds: float | None = None
    """Stop training after this much wall time (the checkpoint is still written)."""
    seed: int = 0
    """Seed of data order and dropout."""

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError(
                f"Invalid SFT config {self}: learning_rate must be > 0, batch_size >= 1, max_length >= 8."
            )


def load_examples(path: Path) -> list[list[dict[str, str]]]:
    """Chat examples of a JSONL file; raises a clear error on the first malformed line."""
    examples = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                msgs = json.loads(line)["messages"]
                ok = (
                    isinstance(msgs, list)
                    and msgs
                    and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in msgs)
                    and msgs[-1].get("role") == "assistant"
                )
            except (json.JSONDecodeError, KeyError, TypeError):
                ok = False
            if not ok:
                raise PtbEnvError(
                    f'{path}:{n}: expected a JSON object {{"messages": [...]}} whose last message '
                    "has role 'assistant' and every message a string 'content'."
                )
            examples.append(msgs)
    if not examples:
        raise PtbEnvError(f"{path} holds no training examples.")
    return examples


def tokenize_example(tokenizer, messages: list[dict[str, str]], max_length: int) -> dict[str, list[int]]:
    """Input ids and labels of one chat example; labels mask the prompt with -100."""
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(messages[-1]["content"] + tokenizer.eos_token, add_special_tokens=False)[
        "input_ids"
    ]
    ids = (prompt_ids + reply_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + reply_ids)[:max_length]
    return {"input_ids": ids, "labels": labels}


def train_sft(
    base_model: str | Path,
    data: str | Path,
    out_dir: str | Path,
    config: SFTConfig = SFTConfig(),
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``base_model`` on the chat examples in ``data``; write the checkpoint to ``out_dir``.

    Returns training metrics (steps, examples, final loss, seconds).
    """
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    examples = load_examples(Path(data))
    tokenizer = AutoTokenizer.from_pretrained(base_model, trust_remote_code=False)
    set_seed(config.seed)
    gpu = torch.cuda.is_available()  # the PostTrainBench suite: bf16 on the GPU; the tiny world: fp32 CPU
    model = AutoModelForCausalLM.from_pretrained(
        base_model,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=torch.bfloat16 if gpu else torch.float32,
    )
    rows = [tokenize_example(tokenizer, m, config.max_length) for m in examples]
    pad = tokenizer.pad_token_id

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if config.max_seconds is not None and time.monotonic() - self.start > config.max_seconds:
                control.should_training_stop = True

    out = Path(out_dir)
    args = TrainingArguments(
        output_dir=str(out / ".trainer"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not gpu,
        bf16=gpu,
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=not progress,
    )
    timer = TimeLimit()
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate, callbacks=[timer])
    result = trainer.train()
    seconds = time.monotonic() - timer.start
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    shutil.rmtree(out / ".trainer", ignore_errors=True)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "steps": trainer.state.global_step,
        "examples": len(rows),
        "final_loss": losses[-1] if losses else float(result.training_loss),
        "train_seconds": round(seconds, 1),
        "config": asdict(config),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="base model directory")
    parser.add_argument("--data", required=True, help="JSONL of chat examples")
    parser.add_argument("--out", required=True, help="output checkpoint directory")
    defaults = SFTConfig()
    for f in fields(SFTConfig):
        kind = (
            float
            if f.name in ("learning_rate", "epochs", "warmup_ratio", "weight_decay", "max_seconds")
            else int
        )
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=getattr(defaults, f.name))
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the Trainer's progress bar on stderr (default: on; it does not change training)",
    )
    a = vars(parser.parse_args())
    config = SFTConfig(**{f.name: a[f.name] for f in fields(SFTConfig)})
    print(json.dumps(train_sft(a["model"], a["data"], a["out"], config, progress=a["progress"]), indent=2))


if __name__ == "__main__":
    main()
