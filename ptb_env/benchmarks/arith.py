"""tiny-arith: GSM8K-style word problems with 1-3 operations, answer after ``####``."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ptb_env.benchmarks.base import Item, SyntheticBenchmark
from ptb_env.tiny import shift, world
from ptb_env.tiny.phrasing import ARITH_INSTRUCTION as INSTRUCTION
from ptb_env.tiny.phrasing import QUESTIONS, draw_story


@dataclass(frozen=True)
class ArithVocab:
    """Names and question templates a split draws on (public for train/dev, held out for test)."""

    names: Sequence[str] = world.NAMES
    questions: Sequence[str] = QUESTIONS
    made_up_names: bool = True
    """Draw half of the names from ``world.made_up_name`` (public splits only)."""


def make_item(rng: random.Random, vocab: ArithVocab, item_id: str) -> Item:
    """One word problem with its worked solution."""
    n_ops = rng.choice((1, 2, 3))
    name, other = rng.sample(list(vocab.names), 2)
    if vocab.made_up_names and rng.random() < 0.5:
        name = world.made_up_name(rng)
    obj = rng.choice(world.OBJECTS)
    sentences, steps, value = draw_story(rng, name, other, obj, n_ops)
    sentences.append(rng.choice(vocab.questions).format(name=name, obj=obj))
    question = " ".join(sentences)
    return Item(
        id=item_id,
        messages=({"role": "user", "content": f"{question}\n{INSTRUCTION}"},),
        answer=str(value),
        target="\n".join(steps) + f"\n#### {value}",
        meta={"n_ops": n_ops},
    )


_NUMBER = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


def parse_number(text: str) -> Decimal | None:
    """The first number in ``text`` (commas allowed as thousands separators), or None."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    try:
        return Decimal(m.group(0).replace(",", ""))
    except InvalidOperation:
        return None


class TinyArith(SyntheticBenchmark):
    """GSM8K-style arithmetic word problems.

    The answer is the first number after the last ``####`` in the reply; a reply
    without ``####`` has no answer (strict, as the format is part of the task).
    Scored by exact numeric match (``12`` == ``12.0`` == ``12,``).
    """

    name = "tiny-arith"
    description = "Word problems with 1-3 operations (GSM8K-style); answer after ####."
    skill = "arithmetic reasoning"
    max_new_tokens = 64

    def make_item(self, rng: random.Random, vocab: Any, item_id: str) -> Item:
        return make_item(rng, vocab, item_id)

    def public_vocab(self) -> ArithVocab:
        return ArithVocab()

    def heldout_vocab(self, spec: Mapping[str, Any]) -> ArithVocab:
        return ArithVocab(names=tuple(spec["names"]), questions=tuple(spec["questions"]), made_up_names=False)

    def shift_vocab(self) -> ArithVocab:
        return ArithVocab(names=shift.ARITH_NAMES, questions=shift.ARITH_QUESTIONS, made_up_names=False)

    def extract(self, completion: str) -> Decimal | None:
        if "####" not in completion:
            return None
        return parse_number(completion.rsplit("####", 1)[1])

    def score(self, item: Item, completion: str) -> float:
        got = self.extract(completion)
        return float(got is not None and got == Decimal(item.answer))
