"""tiny-arith: GSM8K-style word problems, answer after ``####``.

``tiny-arith`` (v1) asks 1-3 operations in every split. ``tiny-arith-v2`` tests a harder
structure than its generator emits by default: 2-5 operations and, in half of the problems, a
sentence about someone else that does not change the answer. The generator emits that structure
when asked (``--ops 1-5 --distractors 0.5``), and the dev-shift split shows it, so a better recipe
can learn it. ``tiny-arith-v3`` mixes the two in its test (and dev-shift): three problems in five
have the default structure, the rest v2's, as a real benchmark mixes easy items with hard ones; a
recipe that ignores the structure shift still scores on the first, a better one on both.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from ptb_env.benchmarks.base import GeneratorOption, Item, SyntheticBenchmark, int_range, probability
from ptb_env.tiny import shift, world
from ptb_env.tiny.phrasing import ARITH_INSTRUCTION as INSTRUCTION
from ptb_env.tiny.phrasing import DISTRACTORS, QUESTIONS, draw_story

DEFAULT_OPS = (1, 2, 3)
"""The generator's default operation counts (v1's structure)."""


@dataclass(frozen=True)
class ArithVocab:
    """Names and question templates a split draws on (public for train/dev, held out for test)."""

    names: Sequence[str] = world.NAMES
    questions: Sequence[str] = QUESTIONS
    made_up_names: bool = True
    """Draw half of the names from ``world.made_up_name`` (public splits only)."""
    ops: tuple[int, ...] = DEFAULT_OPS
    """Operation counts a problem draws from (a starting multiplication counts as one)."""
    distractors: float = 0.0
    """Chance that a problem has a sentence about someone else that leaves the answer alone."""
    default_share: float = 0.0
    """Chance that a problem has the default structure (:data:`DEFAULT_OPS`, no distractor)
    instead of ``ops`` and ``distractors`` (a split that mixes the two structures)."""


def make_item(rng: random.Random, vocab: ArithVocab, item_id: str) -> Item:
    """One word problem with its worked solution."""
    meta: dict[str, Any] = {}
    if vocab.default_share:  # drawn only then: the splits of v1 and v2 stay as they are
        meta["default_structure"] = rng.random() < vocab.default_share
        if meta["default_structure"]:
            vocab = replace(vocab, ops=DEFAULT_OPS, distractors=0.0)
    n_ops = rng.choice(vocab.ops)
    name, other = rng.sample(list(vocab.names), 2)
    if vocab.made_up_names and rng.random() < 0.5:
        name = world.made_up_name(rng)
    obj = rng.choice(world.OBJECTS)
    sentences, steps, value = draw_story(rng, name, other, obj, n_ops)
    meta["n_ops"] = n_ops
    if vocab.distractors:
        meta["distractor"] = rng.random() < vocab.distractors
    elif "default_structure" in meta:
        meta["distractor"] = False
    if meta.get("distractor"):
        distractor = rng.choice(DISTRACTORS).format(
            other=other,
            c=rng.randint(2, 12),
            obj=obj,
            obj2=rng.choice([o for o in world.OBJECTS if o != obj]),
            cont=rng.choice(world.CONTAINERS),
        )
        # first or last, so that no pronoun of the story points at the other person
        sentences.insert(0 if rng.random() < 0.5 else len(sentences), distractor)
    sentences.append(rng.choice(vocab.questions).format(name=name, obj=obj))
    question = " ".join(sentences)
    return Item(
        id=item_id,
        messages=({"role": "user", "content": f"{question}\n{INSTRUCTION}"},),
        answer=str(value),
        target="\n".join(steps) + f"\n#### {value}",
        meta=meta,
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


class TinyArithV2(TinyArith):
    """tiny-arith with headroom: the hidden test (and dev-shift) problems have 2-5 operations and,
    half of the time, a sentence about someone else; the generator's default is v1's structure
    (1-3 operations, no such sentence) and :meth:`generator_options` reach the rest."""

    name = "tiny-arith-v2"
    description = (
        "Word problems with 2-5 operations, some with a sentence that does not matter (GSM8K-style); "
        "answer after ####."
    )
    max_new_tokens = 96
    heldout_key = "tiny-arith"
    SHIFTED_OPS = (2, 3, 4, 5)
    SHIFTED_DISTRACTORS = 0.5
    """Structure of the shifted splits (test and dev-shift): operation counts, distractor chance."""
    STRUCTURE_OPTIONS = {"ops": "1-5", "distractors": 0.5}

    def generator_options(self) -> dict[str, GeneratorOption]:
        return {
            "ops": GeneratorOption(int_range, "operations per problem, a range such as 1-5 (default 1-3)"),
            "distractors": GeneratorOption(
                probability,
                "chance of a sentence about someone else that leaves the answer alone (default 0)",
            ),
        }

    def heldout_vocab(self, spec: Mapping[str, Any]) -> ArithVocab:
        vocab = super().heldout_vocab(spec)
        return replace(vocab, ops=self.SHIFTED_OPS, distractors=self.SHIFTED_DISTRACTORS)

    def shift_vocab(self) -> ArithVocab:
        return replace(super().shift_vocab(), ops=self.SHIFTED_OPS, distractors=self.SHIFTED_DISTRACTORS)


class TinyArithV3(TinyArithV2):
    """tiny-arith-v2's structure shift in a mixed test: three of five hidden test (and dev-shift)
    problems have the default structure (1-3 operations, no distractor), the rest v2's (2-5
    operations, half with a distractor). The naive recipe keeps its score on the first part; the
    shift still separates a better one. Same held-out vocabulary and generator options as v2."""

    name = "tiny-arith-v3"
    description = (
        "Word problems with 1-5 operations, some with a sentence that does not matter (GSM8K-style); "
        "answer after ####."
    )
    DEFAULT_SHARE = 0.6
    """Share of the shifted splits' problems with the default structure."""

    def heldout_vocab(self, spec: Mapping[str, Any]) -> ArithVocab:
        return replace(super().heldout_vocab(spec), default_share=self.DEFAULT_SHARE)

    def shift_vocab(self) -> ArithVocab:
        return replace(super().shift_vocab(), default_share=self.DEFAULT_SHARE)
