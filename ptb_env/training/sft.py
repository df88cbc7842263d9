"""Reference SFT recipe: full fine-tuning on chat examples with the transformers Trainer.

Input is a JSONL file with one ``{"messages": [...]}`` chat example per line; the
last message is the assistant reply. The loss covers the reply (and its end-of-turn
token) only. Output is a HF checkpoint (safetensors, tokenizer, generation config).

    python -m ptb_env.training.sft --model BASE_DIR --data train.jsonl --out final_model

It shows the Trainer's progress bar on stderr (``--no-progress`` hides it).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
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
    schedule: str = "auto"
    """The clock of the warm-up and cosine decay: ``"steps"`` (the planned steps), ``"time"``
    (``max_seconds``), or ``"auto"``: steps, switching to whichever of the two is further along
    when the first steps show that the planned steps will not fit in ``max_seconds``, so a run
    that the time limit cuts short still ends its decay. A run that fits never switches."""
    save_fractions: tuple[float, ...] = ()
    """Also save the model when the run is this far along (each in (0, 1), by the schedule's
    clock) into ``<out>-steps/step-<N>/``, to pick one of them later."""
    save_every_s: float | None = None
    """Also save the model every this many seconds (same folder)."""
    lora_r: int = 0
    """LoRA rank; 0 fine-tunes every weight. With ``r > 0`` PEFT trains adapters on every linear
    layer and merges them at the end: the checkpoint is a plain one (the same for the
    intermediate ones)."""
    lora_alpha: int | None = None
    """LoRA scaling numerator (default ``2 * lora_r``)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA adapters' input."""

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError(
                f"Invalid SFT config {self}: learning_rate must be > 0, batch_size >= 1, max_length >= 8."
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Expect schedule one of {SCHEDULES}, actually got {self.schedule!r}.")
        object.__setattr__(self, "save_fractions", tuple(sorted({float(f) for f in self.save_fractions})))
        if any(not 0 < f < 1 for f in self.save_fractions):
            raise ValueError(f"Expect save_fractions in (0, 1), actually got {self.save_fractions}.")
        if self.schedule == "time" and self.max_seconds is None:
            raise ValueError('schedule="time" needs max_seconds (the clock the schedule follows).')
        if self.save_every_s is not None and self.save_every_s <= 0:
            raise ValueError(f"Expect save_every_s > 0 or None, actually got {self.save_every_s}.")
        if self.lora_r < 0 or self.lora_dropout < 0 or (self.lora_alpha is not None and self.lora_alpha <= 0):
            raise ValueError(
                f"Invalid LoRA settings in {self}: lora_r >= 0, lora_alpha > 0, lora_dropout >= 0."
            )


SCHEDULES = ("auto", "steps", "time")
_INT_FIELDS = ("max_steps", "batch_size", "max_length", "seed", "lora_r", "lora_alpha")
PROBE_STEPS = 5
"""Steps after which the run prints its speed (and ``schedule="auto"`` decides its clock)."""


def lr_factor(progress: float, warmup: float) -> float:
    """The learning rate's share of its peak ``progress`` (0..1) into a run: linear warm-up over
    the first ``warmup`` of it, then cosine decay to 0 (the Trainer's ``cosine`` schedule)."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (progress - warmup) / max(1e-9, 1.0 - warmup)))


def steps_dir(out: Path) -> Path:
    """Where the intermediate checkpoints of a run writing ``out`` go: ``<out>-steps/``."""
    return out.parent / f"{out.name}-steps"


def saved_steps(out: Path) -> list[Path]:
    """The intermediate checkpoints a run writing ``out`` saved (``<out>-steps/step-<N>``), by step."""
    return sorted(steps_dir(out).glob("step-*"), key=lambda q: int(q.name.split("-")[1]))


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
    return tokenize_examples(tokenizer, [messages], max_length)[0]


def tokenize_examples(
    tokenizer, examples: list[list[dict[str, str]]], max_length: int, chunk: int = 4096
) -> list[dict[str, list[int]]]:
    """``tokenize_example`` of every example, in batches: the same ids, about 3x faster.

    A training job tokenizes its whole file before the first step; one at a time, the
    tokenizer calls cost 24 s of a tiny-arith job's 40,000 examples on 2 cores.
    """
    rows: list[dict[str, list[int]]] = []
    for at in range(0, len(examples), chunk):
        part = examples[at : at + chunk]
        # a lone reply has no prompt (a chat template refuses an empty conversation)
        talks = [i for i, m in enumerate(part) if len(m) > 1]
        prompts = [""] * len(part)
        if talks:
            rendered = tokenizer.apply_chat_template(
                [part[i][:-1] for i in talks], add_generation_prompt=True, tokenize=False
            )
            for i, text in zip(talks, rendered, strict=True):
                prompts[i] = text
        prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(
            [m[-1]["content"] + tokenizer.eos_token for m in part], add_special_tokens=False
        )["input_ids"]
        for p_ids, r_ids in zip(prompt_ids, reply_ids, strict=True):
            rows.append(
                {
                    "input_ids": (p_ids + r_ids)[:max_length],
                    "labels": ([-100] * len(p_ids) + r_ids)[:max_length],
                }
            )
    return rows


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
    rows = tokenize_examples(tokenizer, examples, config.max_length)
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

    out = Path(out_dir)
    if config.lora_r > 0:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as err:
            raise PtbEnvError('LoRA (lora_r > 0) needs PEFT: pip install "ptb-env[lora]".') from err
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha or 2 * config.lora_r,
            lora_dropout=config.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)

    def save(where: Path, final: bool = False) -> None:
        """Write a plain checkpoint (LoRA merged: into a copy, unless this is the end)."""
        plain = model
        if config.lora_r > 0:
            plain = (model if final else copy.deepcopy(model)).merge_and_unload()
        where.mkdir(parents=True, exist_ok=True)
        plain.save_pretrained(where, safe_serialization=True)
        tokenizer.save_pretrained(where)

    control_cb = _RunControl(config, save, steps_dir(out))
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
    trainer = Trainer(
        model=model, args=args, train_dataset=rows, data_collator=collate, callbacks=[control_cb.callback()]
    )
    result = trainer.train()
    seconds = time.monotonic() - control_cb.start
    save(out, final=True)
    shutil.rmtree(out / ".trainer", ignore_errors=True)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "steps": trainer.state.global_step,
        "examples": len(rows),
        "final_loss": losses[-1] if losses else float(result.training_loss),
        "train_seconds": round(seconds, 1),
        "clock": control_cb.clock,
        "saved": [str(p) for p in control_cb.saved],
        "config": asdict(config),
    }


class _RunControl:
    """The run's clock, its intermediate saves, its speed line and its time limit.

    After each optimizer step: prints the speed once (after ``PROBE_STEPS`` steps), where
    ``schedule="auto"`` also decides whether time drives the schedule; on the time clock, sets
    the learning rate of the next step from :func:`lr_factor` of the progress (the further along
    of steps and time), overriding the Trainer's step-based scheduler; saves when a fraction or
    ``save_every_s`` is due; stops past ``max_seconds``. On the step clock (every run that fits
    its time) the Trainer's own schedule is untouched, so such runs stay deterministic.
    """

    def __init__(self, config: SFTConfig, save: Any, folder: Path) -> None:
        self.config, self.save, self.folder = config, save, folder
        self.start = self.last_save = time.monotonic()
        self.clock = "time" if config.schedule == "time" else "steps"
        self.fractions = list(config.save_fractions)
        self.saved: list[Path] = []

    def callback(self) -> Any:
        from transformers import TrainerCallback

        run = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer's hook
                run.step_end(state, control, kwargs.get("optimizer"), kwargs.get("lr_scheduler"))

        return Callback()

    def step_end(self, state: Any, control: Any, optimizer: Any, scheduler: Any = None) -> None:
        cfg = self.config
        now = time.monotonic()
        elapsed = now - self.start
        total = max(1, int(state.max_steps))
        step = int(state.global_step)
        if step == PROBE_STEPS or (step < PROBE_STEPS and step == total):
            rate = step / max(elapsed, 1e-9)
            projected = total / rate
            if cfg.schedule == "auto" and cfg.max_seconds is not None and projected > cfg.max_seconds:
                self.clock = "time"
            line = {
                "event": "speed", "step": step, "steps_per_s": round(rate, 3), "planned_steps": total,
                "projected_seconds": round(projected, 1), "max_seconds": cfg.max_seconds, "clock": self.clock,
            }  # fmt: skip
            print(json.dumps(line), flush=True)
        progress = step / total
        if self.clock == "time" and cfg.max_seconds is not None:
            progress = max(progress, elapsed / cfg.max_seconds)
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.learning_rate * lr_factor(progress, cfg.warmup_ratio)
                if scheduler is not None:  # the Trainer logs the scheduler's rate: make it this one
                    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
        stopping = cfg.max_seconds is not None and elapsed > cfg.max_seconds
        if stopping:
            control.should_training_stop = True
        due = False
        while self.fractions and progress >= self.fractions[0]:
            self.fractions.pop(0)
            due = True
        if cfg.save_every_s is not None and now - self.last_save >= cfg.save_every_s:
            due = True
        if due and not stopping and step < total:  # the end writes the final checkpoint anyway
            where = self.folder / f"step-{step}"
            self.save(where)
            self.saved.append(where)
            self.last_save = time.monotonic()
            print(json.dumps({"event": "saved", "step": step, "path": str(where)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="base model directory")
    parser.add_argument("--data", required=True, help="JSONL of chat examples")
    parser.add_argument("--out", required=True, help="output checkpoint directory")
    defaults = SFTConfig()
    for f in fields(SFTConfig):
        flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
        if f.name == "save_fractions":
            parser.add_argument(flag, type=float, nargs="*", default=list(default))
        elif f.name == "schedule":
            parser.add_argument(flag, choices=SCHEDULES, default=default)
        else:
            parser.add_argument(flag, type=int if f.name in _INT_FIELDS else float, default=default)
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
