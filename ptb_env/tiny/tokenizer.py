"""The tiny world's tokenizer: byte-level BPE with single-digit numbers, Qwen3-style specials."""

from __future__ import annotations

import itertools
import json
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


def _prompt_texts() -> list[str]:
    """Everyday instruction and chat words, so prompts do not fall apart into bytes.

    A real base model's tokenizer is trained on far broader text than its
    pre-training mix for any one skill; these few lines stand in for that.
    """
    from ptb_env.tiny.phrasing import ARITH_INSTRUCTION, TOOLS_SYSTEM, function_spec
    from ptb_env.tiny.world import FUNCTIONS

    words = ["system", "user", "assistant", "question", "answer", "problem", "step"]
    texts = [ARITH_INSTRUCTION, TOOLS_SYSTEM, *words] * 50
    return texts + [json.dumps(function_spec(f)) for f in FUNCTIONS] * 50


def train_tokenizer(out_dir: Path, seed: int = 0, vocab_size: int = 2048, n_docs: int = 20000):
    """Train the tokenizer on a sample of the corpus and save it as a HF fast tokenizer.

    Returns the ``PreTrainedTokenizerFast``. Digits are split into single characters
    (as Qwen does) so that numbers are spelled digit by digit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(
        itertools.chain(itertools.islice(documents(seed), n_docs), _prompt_texts()), trainer=trainer
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (IM_END, ENDOFTEXT)],
        model_max_length=1024,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast
