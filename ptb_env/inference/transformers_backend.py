"""Batched greedy generation with transformers (left padding, KV cache, length-sorted batches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class GenerationSettings:
    """How completions are generated; part of the key of cached scores.

    Attributes:
        max_new_tokens: generation limit per prompt.
        batch_size: prompts per forward batch.
        stop: strings that end a completion (cut after generation; EOS ends it too).
        stop_tokens: special tokens that end a completion like EOS (a chat template's end-of-turn
            marker, e.g. ``<|im_end|>``); tokens the vocabulary lacks are ignored.
    """

    max_new_tokens: int = 64
    batch_size: int = 64
    stop: tuple[str, ...] = ()
    stop_tokens: tuple[str, ...] = ()


def end_ids(eos: int | Sequence[int] | None, tokenizer, stop_tokens: Sequence[str] = ()) -> list[int]:
    """Ids that end generation: ``eos`` (a generation config's EOS ids; the tokenizer's EOS when
    None) plus ``stop_tokens`` found in the vocabulary. Both backends stop on these ids."""
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = [int(i) for i in ([eos] if isinstance(eos, int) else list(eos or []))]
    vocab = tokenizer.get_vocab()
    return ids + [vocab[t] for t in stop_tokens if t in vocab and vocab[t] not in ids]


def eos_ids(model, tokenizer, stop_tokens: Sequence[str] = ()) -> list[int]:
    """Ids that end generation of a loaded ``model`` (see :func:`end_ids`)."""
    return end_ids(model.generation_config.eos_token_id, tokenizer, stop_tokens)


def new_token_limit(model, prompt_len: int, max_new_tokens: int) -> int:
    """``max_new_tokens``, capped so that prompt and reply fit the model's context window."""
    context = getattr(model.config, "max_position_embeddings", None)
    if not context:
        return max_new_tokens
    return max(1, min(max_new_tokens, int(context) - prompt_len))


def load(model_dir: str | Path, chat_template: str | None = None):
    """Load a checkpoint for inference: safetensors only, no remote code.

    ``chat_template`` replaces whatever template the checkpoint ships (the grader
    uses the task's own template, never the agent's).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
    )
    model.eval()
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def render(tokenizer, prompts: Sequence[Messages]) -> list[list[int]]:
    """Token ids of each chat prompt, ending with the assistant's generation prompt."""
    texts = [
        tokenizer.apply_chat_template(list(m), add_generation_prompt=True, tokenize=False) for m in prompts
    ]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    for s in stop:
        i = text.find(s)
        if i >= 0:
            text = text[:i]
    return text


def generate(
    model, tokenizer, prompts: Sequence[Messages], settings: GenerationSettings, progress: bool = True
) -> list[str]:
    """Greedy completions of chat prompts, in the order of ``prompts``.

    Prompts are sorted by length so that each batch pads little, left-padded, and
    generated with the KV cache; a sequence ends at any EOS id of the model's
    generation config, at a stop token, at a stop string, or where the context window ends.
    """
    import torch
    from tqdm.auto import tqdm

    ids = render(tokenizer, prompts)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    eos = eos_ids(model, tokenizer, settings.stop_tokens)
    out: list[str] = [""] * len(ids)
    batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    with torch.inference_mode():
        for batch in tqdm(batches, desc="generate", unit="batch", disable=not progress, leave=False):
            enc = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            gen = model.generate(
                **enc,
                max_new_tokens=new_token_limit(model, enc["input_ids"].shape[1], settings.max_new_tokens),
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,
            )
            new = gen[:, enc["input_ids"].shape[1] :]
            for i, text in zip(batch, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                out[i] = cut_at_stop(text, settings.stop)
    return out
