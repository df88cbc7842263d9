"""tiny-facts: GPQA-style multiple choice about facts stated in the pre-training corpus."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ptb_env.benchmarks.base import Item, SyntheticBenchmark
from ptb_env.tiny import shift, world

INSTRUCTION = "Answer with the letter of the correct choice."
LETTERS = "ABCD"

#: Public question templates per fact (train and dev).
QUESTIONS: dict[str, tuple[str, ...]] = {
    "city": ("Where does {name} live?",),
    "job": ("What is the job of {name}?",),
    "colour": ("What is the favourite colour of {name}?",),
    "item": ("What does {name} own?",),
}


@dataclass(frozen=True)
class FactsVocab:
    """People asked about and question templates (test: held-out people and templates)."""

    people: Sequence[str] = ()
    questions: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(QUESTIONS))
    facts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Facts of people that :func:`ptb_env.tiny.world.person_facts` does not know (held out)."""


def make_item(rng: random.Random, vocab: FactsVocab, item_id: str) -> Item:
    """One four-way multiple-choice question about a person's fact."""
    name = rng.choice(list(vocab.people))
    fact = rng.choice(sorted(vocab.questions))
    truth = (vocab.facts.get(name) or world.person_facts(name))[fact]
    choices = [truth, *rng.sample([v for v in world.FACT_POOLS[fact] if v != truth], 3)]
    rng.shuffle(choices)
    letter = LETTERS[choices.index(truth)]
    question = rng.choice(list(vocab.questions[fact])).format(name=name)
    lines = [question, *(f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)), INSTRUCTION]
    return Item(
        id=item_id,
        messages=({"role": "user", "content": "\n".join(lines)},),
        answer=letter,
        target=f"ANSWER: {letter}",
        meta={"fact": fact, "person": name},
    )


_ANSWER = re.compile(r"answer\s*(?:is)?\s*[:=]?\s*\(?([A-D])\b", re.IGNORECASE)
_LEADING = re.compile(r"^\s*\(?([A-D])(?:[).:]|\s*$)")


def extract_letter(completion: str) -> str | None:
    """The chosen letter, or None.

    The last ``ANSWER: X`` (any case) counts; without one, a reply that starts with
    ``X)``, ``X.``, ``X:`` or is the bare letter. A reply that merely starts with the
    word "A" (as in "A friend ...") has no answer.
    """
    found = _ANSWER.findall(completion)
    if found:
        return found[-1].upper()
    m = _LEADING.match(completion)
    return m.group(1) if m else None


class TinyFacts(SyntheticBenchmark):
    """GPQA-style multiple choice over facts the base model saw in pre-training.

    Train and dev ask about most people of the world; the hidden test split asks
    about held-out people with held-out question wording, so it measures recall
    of pre-training knowledge in the task format, not memorised items. Who the
    held-out people are and their facts live only in the private held-out file.
    """

    name = "tiny-facts"
    description = "Four-way multiple choice about facts from the pre-training corpus (GPQA-style)."
    skill = "knowledge recall"
    max_new_tokens = 16

    def make_item(self, rng: random.Random, vocab: FactsVocab, item_id: str) -> Item:
        return make_item(rng, vocab, item_id)

    def public_vocab(self) -> FactsVocab:
        return FactsVocab(people=tuple(world.PEOPLE_FACTS))

    def heldout_vocab(self, spec: Mapping[str, Any]) -> FactsVocab:
        return FactsVocab(people=tuple(spec["people"]), questions=spec["questions"], facts=spec["people"])

    def shift_vocab(self) -> FactsVocab:
        return FactsVocab(people=tuple(world.PEOPLE_FACTS), questions=dict(shift.FACTS_QUESTIONS))

    def extract(self, completion: str) -> str | None:
        return extract_letter(completion)

    def score(self, item: Item, completion: str) -> float:
        return float(extract_letter(completion) == item.answer)
