"""The tiny world's tokenizers: byte-level BPE, Qwen3-style (ChatML, single digits) or Gemma-style.

The tiny grid's base models differ the way PostTrainBench's do, tokenizer and chat format
included: :data:`CHAT_FORMATS` has Qwen3's ChatML and Gemma's turns (no system role: the system
message opens the first user turn), and numbers are split into single digits (Qwen, Gemma) or
kept as runs of digits that BPE merges (``digits="grouped"``, as GPT-2-style tokenizers do).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from ptb_env.tiny.corpus import documents

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, "<think>", "</think>", "<tool_call>", "</tool_call>")

#: ChatML, as in Qwen3 (without the thinking and tool parts the tiny world does not use).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

#: Gemma's turns: ``user`` and ``model`` roles; a system message opens the first user turn.
TURNS_TEMPLATE = (
    "{%- set ns = namespace(system='') %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{%- set ns.system = message['content'] + '\\n\\n' %}"
    "{%- else %}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{- '<start_of_turn>' + role + '\\n' + ns.system + message['content'] + '<end_of_turn>\\n' }}"
    "{%- set ns.system = '' %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class ChatFormat:
    """A chat format: its template, the token that ends a turn (the EOS), its special tokens."""

    template: str
    end_of_turn: str
    special_tokens: tuple[str, ...]
    role_words: tuple[str, ...] = ()
    """Role names the template writes beyond the common ones (Gemma's ``model``), so that the
    tokenizer learns them as words."""


CHAT_FORMATS = {
    "chatml": ChatFormat(CHAT_TEMPLATE, IM_END, SPECIAL_TOKENS),
    "turns": ChatFormat(
        TURNS_TEMPLATE, "<end_of_turn>", (ENDOFTEXT, "<start_of_turn>", "<end_of_turn>"), ("model",)
    ),
}
DIGITS = ("single", "grouped")
"""How numbers are pre-tokenized: one digit per token, or runs of digits that BPE may merge."""


def _prompt_texts(roles: tuple[str, ...] = ()) -> list[str]:
    """Everyday instruction and chat words, so prompts do not fall apart into bytes.

    A real base model's tokenizer is trained on far broader text than its
    pre-training mix for any one skill; these few lines stand in for that.
    """
    from ptb_env.tiny.phrasing import ARITH_INSTRUCTION, TOOLS_SYSTEM, function_spec
    from ptb_env.tiny.world import FUNCTIONS

    words = ["system", "user", "assistant", "question", "answer", "problem", "step"]
    texts = [ARITH_INSTRUCTION, TOOLS_SYSTEM, *words, *roles] * 50
    return texts + [json.dumps(function_spec(f)) for f in FUNCTIONS] * 50


def train_tokenizer(
    out_dir: Path,
    seed: int = 0,
    vocab_size: int = 2048,
    n_docs: int = 20000,
    digits: str = "single",
    chat_format: str = "chatml",
):
    """Train the tokenizer on a sample of the corpus and save it as a HF fast tokenizer.

    Returns the ``PreTrainedTokenizerFast``. ``digits="single"`` splits numbers into single
    characters (as Qwen does) so that numbers are spelled digit by digit; ``"grouped"`` keeps runs
    of digits together, so BPE learns tokens of several digits. ``chat_format`` names one of
    :data:`CHAT_FORMATS`.

    Raises:
        ValueError: an unknown ``digits`` or ``chat_format``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if digits not in DIGITS or chat_format not in CHAT_FORMATS:
        raise ValueError(
            f"Expect digits in {DIGITS} and chat_format in {tuple(CHAT_FORMATS)}, actually got "
            f"{digits!r} and {chat_format!r}."
        )
    fmt = CHAT_FORMATS[chat_format]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=digits == "single"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(fmt.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(
        itertools.chain(
            itertools.islice(documents(seed), n_docs),
            _prompt_texts(fmt.role_words),
        ),
        trainer=trainer,
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=fmt.end_of_turn,
        pad_token=ENDOFTEXT,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[t for t in fmt.special_tokens if t not in (fmt.end_of_turn, ENDOFTEXT)],
        model_max_length=1024,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = fmt.template
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast
