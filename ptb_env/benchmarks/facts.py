"""tiny-facts: GPQA-style multiple choice about facts stated in the pre-training corpus.

``tiny-facts`` (v1) offers 4 choices in every split. ``tiny-facts-v2`` tests a harder structure
than its generator emits by default: 4-6 choices and, before half of the questions, a sentence
that states the same kind of fact about someone else, whose value is one of the wrong choices (a
trap for copying from the prompt instead of recalling). The generator emits that structure when
asked (``--choices 4-6 --context 0.5``), and the dev-shift split shows it, so a better recipe can
learn it. ``tiny-facts-v3`` keeps v2's structure and takes the choice's text as an answer as well as
its letter (its reference reply is the text: no data moved a tiny model's letter off one letter's
share, docs/tiny-world.md), and its dev-shift asks about public people whom its generator never
asks about, as the test asks about people whom no public split does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ptb_env.benchmarks.base import GeneratorOption, Item, SyntheticBenchmark, int_range, probability
from ptb_env.tiny import shift, world
from ptb_env.tiny.phrasing import FACT_STATEMENTS

INSTRUCTION = "Answer with the letter of the correct choice."
TEXT_INSTRUCTION = "Answer with the correct choice: its text or its letter."
LETTERS = "ABCDEF"

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
    choices: tuple[int, ...] = (4,)
    """Numbers of choices a question draws from (at most ``len(LETTERS)``)."""
    context: float = 0.0
    """Chance that a question follows a sentence stating the same fact of someone else, whose
    value is one of the wrong choices."""
    answer: str = "letter"
    """The reference reply: ``"letter"`` (``ANSWER: B``) or ``"text"`` (``ANSWER: Oslo``, the
    item's answer the text and its meta the choices)."""


def make_item(rng: random.Random, vocab: FactsVocab, item_id: str) -> Item:
    """One multiple-choice question about a person's fact."""
    people = list(vocab.people)
    name = rng.choice(people)
    fact = rng.choice(sorted(vocab.questions))

    def facts(person: str) -> Mapping[str, str]:
        return vocab.facts.get(person) or world.person_facts(person)

    truth = facts(name)[fact]
    n_choices = vocab.choices[0] if len(vocab.choices) == 1 else rng.choice(vocab.choices)
    meta: dict[str, Any] = {"fact": fact, "person": name}
    lines: list[str] = []
    wrong = [v for v in world.FACT_POOLS[fact] if v != truth]
    if vocab.context:
        others = [p for p in people if p != name and facts(p)[fact] != truth]
        meta["context"] = bool(others) and rng.random() < vocab.context
    if meta.get("context"):
        other = rng.choice(others)
        trap = facts(other)[fact]
        lines.append(FACT_STATEMENTS[fact].format(name=other, value=trap))
        meta["other"] = other
        choices = [truth, trap, *rng.sample([v for v in wrong if v != trap], n_choices - 2)]
    else:
        choices = [truth, *rng.sample(wrong, n_choices - 1)]
    rng.shuffle(choices)
    letter = LETTERS[choices.index(truth)]
    lines.append(rng.choice(list(vocab.questions[fact])).format(name=name))
    lines += [f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)]
    answer = letter
    if vocab.answer == "text":
        answer, meta["letter"], meta["choices"] = truth, letter, choices
    lines.append(TEXT_INSTRUCTION if vocab.answer == "text" else INSTRUCTION)
    return Item(
        id=item_id,
        messages=({"role": "user", "content": "\n".join(lines)},),
        answer=answer,
        target=f"ANSWER: {answer}",
        meta=meta,
    )


def _choices(text: Any) -> tuple[int, ...]:
    counts = int_range(text)
    if counts[0] < 2 or counts[-1] > len(LETTERS):
        raise ValueError(f"Expect choices between 2 and {len(LETTERS)}, actually got {text!r}.")
    return counts


_ANSWER = re.compile(r"answer\s*(?:is)?\s*[:=]?\s*\(?([A-F])\b", re.IGNORECASE)
_LEADING = re.compile(r"^\s*\(?([A-F])(?:[).:]|\s*$)")


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


_ANSWER_LINE = re.compile(r"answer\s*(?:is\b|[:=])\s*:?\s*(.*)", re.IGNORECASE)
_LETTER_ONLY = re.compile(r"\(?([A-F])\)?[.:]?", re.IGNORECASE)
_LETTER_TEXT = re.compile(r"\(?([A-F])[).:]\s*(.+)")


def extract_answer(completion: str) -> str | None:
    """What follows the last ``ANSWER:`` (or ``answer is``, any case) to the end of its line, or
    without one a reply's leading letter (as :func:`extract_letter`); None when neither is there.

    >>> extract_answer("ANSWER: Oslo.")
    'Oslo'
    """
    found = _ANSWER_LINE.findall(completion)
    if found:
        said = found[-1].strip().strip("\"'`*").rstrip(".!").strip()
        return said or None
    return extract_letter(completion)


def chosen(said: str | None, choices: Sequence[str]) -> int | None:
    """The index of the choice an answer names: its letter (``B``, ``(B)``, ``B)``), its text (any
    case), or both (``B) Oslo``: they must agree); None for anything else."""
    if not said:
        return None
    folded = [c.casefold() for c in choices]
    if m := _LETTER_ONLY.fullmatch(said):
        index = LETTERS.index(m.group(1).upper())
        return index if index < len(choices) else None
    if said.casefold() in folded:
        return folded.index(said.casefold())
    if m := _LETTER_TEXT.fullmatch(said):
        index = LETTERS.index(m.group(1))
        text = m.group(2).strip().casefold()
        return index if index < len(choices) and folded[index] == text else None
    return None


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


class TinyFactsV2(TinyFacts):
    """tiny-facts with headroom: the hidden test (and dev-shift) questions offer 4-6 choices and,
    half of the time, follow a sentence stating the same fact of someone else (one of the wrong
    choices); the generator's default is v1's structure (4 choices, no such sentence) and
    :meth:`generator_options` reach the rest."""

    name = "tiny-facts-v2"
    description = (
        "Multiple choice (4-6 choices) about facts from the pre-training corpus, some after a "
        "sentence about someone else (GPQA-style)."
    )
    heldout_key = "tiny-facts"
    SHIFTED_CHOICES = (4, 5, 6)
    SHIFTED_CONTEXT = 0.5
    """Structure of the shifted splits (test and dev-shift): choice counts, context chance."""
    STRUCTURE_OPTIONS = {"choices": "4-6", "context": 0.5}

    def generator_options(self) -> dict[str, GeneratorOption]:
        return {
            "choices": GeneratorOption(_choices, "choices per question, a range such as 4-6 (default 4)"),
            "context": GeneratorOption(
                probability,
                "chance of a sentence stating the same fact of someone else, one of the wrong "
                "choices (default 0)",
            ),
        }

    def heldout_vocab(self, spec: Mapping[str, Any]) -> FactsVocab:
        vocab = super().heldout_vocab(spec)
        return replace(vocab, choices=self.SHIFTED_CHOICES, context=self.SHIFTED_CONTEXT)

    def shift_vocab(self) -> FactsVocab:
        return replace(super().shift_vocab(), choices=self.SHIFTED_CHOICES, context=self.SHIFTED_CONTEXT)


class TinyFactsV3(TinyFactsV2):
    """tiny-facts-v2 whose answer may be the choice's text as well as its letter, with a dev-shift
    about other people.

    The reference reply is the text (``ANSWER: Oslo``): the letter ties recall to a position in a
    list, which no data taught a tiny model (every tuned model answered one letter, the share of
    that letter in the test). The generator asks about the public people but
    :data:`ptb_env.tiny.shift.FACTS_PEOPLE`; dev-shift asks about those (their facts are public:
    a recipe that learns them by heart only fools its own dev score) with the test's structure,
    as the test asks about the held-out people.
    """

    name = "tiny-facts-v3"
    description = (
        "Multiple choice (4-6 choices) about facts from the pre-training corpus, some after a "
        "sentence about someone else; answer with the choice's text or letter (GPQA-style)."
    )

    def public_vocab(self) -> FactsVocab:
        people = tuple(p for p in world.PEOPLE_FACTS if p not in shift.FACTS_PEOPLE)
        return FactsVocab(people=people, answer="text")

    def heldout_vocab(self, spec: Mapping[str, Any]) -> FactsVocab:
        return replace(super().heldout_vocab(spec), answer="text")

    def shift_vocab(self) -> FactsVocab:
        return replace(super().shift_vocab(), people=shift.FACTS_PEOPLE, answer="text")

    def extract(self, completion: str) -> str | None:
        return extract_answer(completion)

    def score(self, item: Item, completion: str) -> float:
        choices = item.meta["choices"]
        return float(chosen(extract_answer(completion), choices) == choices.index(item.answer))
