"""tiny-arith: GSM8K-style word problems with 1-3 operations, answer after ``####``."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ptb_env.benchmarks.base import Item, SyntheticBenchmark
from ptb_env.tiny import world

INSTRUCTION = "Solve the problem step by step, then give the final answer after ####."

START = (
    "{name} has {a} {obj}.",
    "{name} owns {a} {obj}.",
    "{name} starts the day with {a} {obj}.",
)
START_MUL = (
    "{name} has {a} {cont} with {b} {obj} in each.",
    "{name} buys {a} {cont} of {obj}. Each one holds {b} {obj}.",
)
ADD = (
    "{Sub} buys {b} more.",
    "{Sub} finds {b} more {obj}.",
    "A friend gives {obj_p} {b} more {obj}.",
    "Then {sub} gets {b} more.",
)
SUB = (
    "{Sub} gives {b} to {other}.",
    "{Sub} loses {b} {obj}.",
    "{Sub} sells {b} of them.",
    "Then {sub} uses {b} {obj}.",
)
QUESTIONS = (
    "How many {obj} does {name} have now?",
    "How many {obj} does {name} have at the end?",
    "How many {obj} does {name} end up with?",
    "After that, how many {obj} does {name} have?",
    "How many {obj} are with {name} now?",
    "Find how many {obj} {name} has left.",
)


@dataclass(frozen=True)
class ArithVocab:
    """Names and question templates a split draws on (public for train/dev, held out for test)."""

    names: Sequence[str] = world.NAMES
    questions: Sequence[str] = QUESTIONS
    made_up_names: bool = True
    """Draw half of the names from ``world.made_up_name`` (public splits only)."""


def draw_story(
    rng: random.Random, name: str, other: str, obj: str, n_ops: int | None = None
) -> tuple[list[str], list[str], int]:
    """A story in which a quantity changes: its sentences, the sums, and the final value.

    The story starts with a quantity (or a product of containers and contents) and
    then changes it by additions and subtractions. ``n_ops`` counts every
    operation, a starting multiplication included; ``None`` draws 1-3 changes after
    the start. The pre-training corpus tells the same stories in prose.
    """
    sub, obj_p = world.pronouns(name)
    sentences: list[str] = []
    sums: list[str] = []
    if rng.random() < 0.35:
        a, b = rng.randint(2, 6), rng.randint(2, 6)
        cont = rng.choice(world.CONTAINERS)
        sentences.append(rng.choice(START_MUL).format(name=name, a=a, b=b, cont=cont, obj=obj))
        value = a * b
        sums.append(f"{a} * {b} = {value}")
    else:
        value = rng.randint(2, 20)
        sentences.append(rng.choice(START).format(name=name, a=value, obj=obj))
    for _ in range(rng.randint(1, 3) if n_ops is None else n_ops - len(sums)):
        if value > 1 and rng.random() < 0.5:
            b = rng.randint(1, min(12, value - 1))
            template, new = rng.choice(SUB), value - b
            sums.append(f"{value} - {b} = {new}")
        else:
            b = rng.randint(1, 12)
            template, new = rng.choice(ADD), value + b
            sums.append(f"{value} + {b} = {new}")
        sentences.append(
            template.format(Sub=sub.capitalize(), sub=sub, obj_p=obj_p, b=b, obj=obj, other=other)
        )
        value = new
    return sentences, sums, value


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

    def extract(self, completion: str) -> Decimal | None:
        if "####" not in completion:
            return None
        return parse_number(completion.rsplit("####", 1)[1])

    def score(self, item: Item, completion: str) -> float:
        got = self.extract(completion)
        return float(got is not None and got == Decimal(item.answer))
