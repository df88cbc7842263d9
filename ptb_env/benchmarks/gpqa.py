"""GPQA (main): graduate-level four-way multiple choice (Idavidrein/gpqa), chain of thought.

Splits: ``test`` is ``gpqa_main.csv`` (448 questions), PostTrainBench's set. GPQA
has no dev split; ours is the questions of ``gpqa_extended.csv`` (546) that are
not in main (98 questions; main is a subset of extended, so the two splits are
disjoint by construction, by ``Record ID``). Building dev reads both files. There
is no train split. The repository is gated: accept its terms on the hub and set
``HF_TOKEN``, or use a local mirror under ``$PTB_ENV_DATA_DIR``.

The four choices are shuffled with a seed derived from the question's
``Record ID``, so a question shows the same letters on every run and platform.
"""

from __future__ import annotations

import math
import random
import re
from typing import Any

from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.hub import DataSource, HubBenchmark
from ptb_env.errors import SplitNotAvailable

REPO = "Idavidrein/gpqa"
LETTERS = "ABCD"
SHUFFLE_SALT = "ptb-env/gpqa/choices/v1"
"""Salt of the per-question choice shuffle; changing it changes every item's letters."""

INSTRUCTION = (
    "Answer the following multiple choice question. Think step by step, then write the "
    "final line of your reply in the form `ANSWER: <letter>`, where <letter> is one of A, B, C or D."
)

# "ANSWER: X" on one line, any case, with ** or ( around the letter. A lowercase letter counts
# only when nothing but punctuation follows it on the line ("answer: a compound" is not an answer).
_ANSWER = re.compile(
    r"(?i:answer)[ \t*]*:[ \t*(]*(?:([A-D])(?![A-Za-z0-9])|([a-d])(?=[ \t*).]*$))", re.MULTILINE
)
_ANSWER_IS = re.compile(r"(?i:answer\s+is)[ \t*:(]*([A-D])(?![A-Za-z0-9])")
_BARE = re.compile(r"[*( \t]*([A-D])[*). \t]*")


def extract_letter(completion: str) -> str | None:
    """The chosen letter of a reply, or None.

    The last ``ANSWER: X`` counts; without one, the last "answer is (X)"; without
    either, a reply that is a single letter (``B``, ``(B)``, ``**B**``, ``B.``).

    >>> extract_letter("... so the charge is conserved.\\n**ANSWER: (C)**")
    'C'
    >>> extract_letter("A catalyst lowers the barrier.") is None
    True
    """
    found = [a or b.upper() for a, b in _ANSWER.findall(completion)]
    if found:
        return found[-1]
    found = _ANSWER_IS.findall(completion)
    if found:
        return found[-1]
    m = _BARE.fullmatch(completion.strip())
    return m.group(1) if m else None


def _text(value: Any) -> str:
    """A CSV cell as text (an empty cell reads as None, or NaN in a numeric column)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def shuffled_choices(record_id: str, correct: str, incorrect: list[str]) -> tuple[list[str], str]:
    """The four choices in the question's fixed order, and the letter of the correct one."""
    choices = [(correct, True), *((c, False) for c in incorrect)]
    random.Random(f"{SHUFFLE_SALT}|{record_id}").shuffle(choices)
    letter = LETTERS[[ok for _, ok in choices].index(True)]
    return [c for c, _ in choices], letter


class GPQAMain(HubBenchmark):
    """GPQA main, as in PostTrainBench (16,000 new tokens, shuffled choices, chain of thought).

    Scored by equality of the extracted letter with the correct one. The reference
    reply (``target``) is the question writer's explanation followed by the answer line.

    Args:
        data_dir: Root of local dataset mirrors (default ``$PTB_ENV_DATA_DIR``).
    """

    name = "gpqa-main"
    description = "Graduate-level science multiple choice (GPQA main, 448 questions); chain of thought."
    skill = "expert knowledge and reasoning"
    max_new_tokens = 16000
    splits = ("dev", "test")
    sources = {
        "dev": DataSource(REPO, "gpqa_extended.csv", gated=True),
        "test": DataSource(REPO, "gpqa_main.csv", gated=True),
    }

    def load_items(self, split: str) -> list[Item]:
        items = self.to_items(split, self.rows(split))
        if split == "dev":
            main = {_text(row["Record ID"]) for row in self.rows("test")}
            items = [it for it in items if it.id not in main]
        return items

    def to_items(self, split: str, rows: list[dict[str, Any]]) -> list[Item]:
        return [self._item(i, row) for i, row in enumerate(rows)]

    def _item(self, i: int, row: dict[str, Any]) -> Item:
        record_id = _text(row.get("Record ID"))
        correct = _text(row.get("Correct Answer"))
        incorrect = [_text(row.get(f"Incorrect Answer {k}")) for k in (1, 2, 3)]
        question = _text(row.get("Question"))
        if not (record_id and question and correct and all(incorrect)):
            raise SplitNotAvailable(
                f"Row {i} of {REPO} lacks a Record ID, Question or one of its four answers. The local "
                "mirror may be damaged or not GPQA's CSV: download it again."
            )
        choices, letter = shuffled_choices(record_id, correct, incorrect)
        lines = [INSTRUCTION, "", question, "", *(f"{LETTERS[k]}) {c}" for k, c in enumerate(choices))]
        explanation = _text(row.get("Explanation"))
        return Item(
            id=record_id,
            messages=({"role": "user", "content": "\n".join(lines)},),
            answer=letter,
            target=f"{explanation}\n\nANSWER: {letter}" if explanation else f"ANSWER: {letter}",
            meta={
                "row": i,
                "domain": _text(row.get("High-level domain")),
                "subdomain": _text(row.get("Subdomain")),
            },
        )

    def extract(self, completion: str) -> str | None:
        return extract_letter(completion)

    def score(self, item: Item, completion: str) -> float:
        return float(extract_letter(completion) == item.answer)
