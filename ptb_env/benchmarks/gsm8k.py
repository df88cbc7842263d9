"""GSM8K: grade-school math word problems (openai/gsm8k), zero-shot, answer after ``####``.

Splits: ``test`` is GSM8K's test split (1,319 problems); ``dev`` is a fixed sample
of 200 problems of GSM8K's train split, chosen by a hash of the question (so the
same problems on every run and platform, whatever the row order); ``train`` is
the rest of the train split. The agent may train on train and dev; test is the
hidden split.

>>> canonical_number("1,000")
'1000'
>>> GSM8K().extract("48 / 2 = 24 clips\\n#### 72")
Decimal('72')
"""

from __future__ import annotations

import hashlib
import os
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.hub import DataSource, HubBenchmark
from ptb_env.errors import SplitNotAvailable

REPO = "openai/gsm8k"
DEV_SIZE = 200
"""Problems of GSM8K's train split held out as the dev split."""
DEV_SALT = "ptb-env/gsm8k/dev/v1"
"""Salt of the hash that picks the dev problems; changing it changes the dev split."""

INSTRUCTION = (
    "Solve the following math problem. Reason step by step, and finish your reply with a "
    "line of the form `#### <number>`, where <number> is the final answer (a number only)."
)

_CALCULATOR = re.compile(r"<<[^<>]*>>")
# A number: optional sign and/or dollar sign, digits with optional thousands groups and decimals.
# No unbounded repetition before the digits, so scanning a long reply stays linear.
_NUMBER = re.compile(
    r"(?<![0-9.,])(?P<sign>[-+]?)\$?(?P<sign2>[-+]?)(?P<digits>[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?)"
)
_MARKERS = re.compile(r"(?i:answer\s*:|the (?:final )?answer is)")


def parse_number(text: str, last: bool = False) -> Decimal | None:
    """The first (or last) number in ``text`` as a Decimal, or None.

    Commas between thousands groups, a ``$`` before it and a ``%`` after it are
    ignored; ``-`` and ``+`` signs count.

    >>> parse_number("costs -$1,250.00 in total")
    Decimal('-1250.00')
    """
    matches = list(_NUMBER.finditer(text)) if last else [m for m in [_NUMBER.search(text)] if m]
    if not matches:
        return None
    m = matches[-1]
    sign = "-" if "-" in (m["sign"], m["sign2"]) else ""
    try:
        return Decimal(sign + m["digits"].replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern only matches valid numbers
        return None


def canonical_number(text: str) -> str:
    """The canonical text of the number in ``text``: no commas, no trailing zeros (``"1,000"`` -> ``"1000"``).

    Raises:
        ValueError: ``text`` holds no number.
    """
    value = parse_number(text)
    if value is None:
        raise ValueError(f"No number in {text!r}.")
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def split_solution(solution: str) -> tuple[str, str]:
    """A GSM8K solution's worked steps (calculator annotations removed) and canonical answer.

    >>> split_solution("She sold 48/2 = <<48/2=24>>24 clips.\\n#### 1,024")
    ('She sold 48/2 = 24 clips.', '1024')
    """
    steps, sep, final = solution.rpartition("####")
    if not sep:
        raise ValueError(f"A GSM8K solution ends with '#### <number>'; got {solution[-80:]!r}.")
    return _CALCULATOR.sub("", steps).strip(), canonical_number(final)


def dev_rank(question: str) -> str:
    """Sort key choosing the dev problems: a salted hash of the question text."""
    return hashlib.sha256(f"{DEV_SALT}|{question}".encode()).hexdigest()


class GSM8K(HubBenchmark):
    """GSM8K, as in PostTrainBench (4,000 new tokens), with a zero-shot prompt.

    The answer is the number after the last ``####`` of the reply; a reply without
    one is read leniently: the number after the last ``ANSWER:`` or "the answer
    is", else the last number of the reply. Scored by numeric equality
    (``$1,000.00`` == ``1000``; ``18.5`` != ``18``).

    Args:
        data_dir: Root of local dataset mirrors (default ``$PTB_ENV_DATA_DIR``).
        dev_size: Problems of GSM8K's train split held out as dev (all of them when it is smaller).
    """

    name = "gsm8k"
    description = "Grade-school math word problems (GSM8K); zero-shot, final answer after ####."
    skill = "arithmetic reasoning"
    max_new_tokens = 4000
    splits = ("train", "dev", "test")
    sources = {
        "train": DataSource(REPO, "main/train-00000-of-00001.parquet"),
        "dev": DataSource(REPO, "main/train-00000-of-00001.parquet"),
        "test": DataSource(REPO, "main/test-00000-of-00001.parquet"),
    }

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, dev_size: int = DEV_SIZE) -> None:
        if dev_size < 0:
            raise ValueError(f"dev_size must be at least 0, got {dev_size}.")
        super().__init__(data_dir)
        self.dev_size = dev_size

    def load_items(self, split: str) -> list[Item]:
        rows = self.rows(split)
        items = self.to_items(split, rows)
        if split == "test":
            return items
        ranked = sorted(range(len(rows)), key=lambda i: dev_rank(str(rows[i]["question"]).strip()))
        dev = set(ranked[: self.dev_size])
        return [it for i, it in enumerate(items) if (i in dev) == (split == "dev")]

    def to_items(self, split: str, rows: list[dict[str, Any]]) -> list[Item]:
        source = "test" if split == "test" else "train"
        items = []
        for i, row in enumerate(rows):
            question = str(row["question"]).strip()
            try:
                steps, answer = split_solution(str(row["answer"]))
            except ValueError as err:
                raise SplitNotAvailable(
                    f"Row {i} of {REPO}'s {source} split is not a GSM8K row ({err}). The local mirror "
                    "may be damaged: download it again."
                ) from err
            items.append(
                Item(
                    id=f"{source}-{i}",
                    messages=({"role": "user", "content": f"{INSTRUCTION}\n\n{question}"},),
                    answer=answer,
                    target=f"{steps}\n#### {answer}",
                    meta={"row": i},
                )
            )
        return items

    def extract(self, completion: str) -> Decimal | None:
        if "####" in completion:
            found = parse_number(completion.rsplit("####", 1)[1])
            if found is not None:
                return found
        markers = list(_MARKERS.finditer(completion))
        if markers:
            found = parse_number(completion[markers[-1].end() :])
            if found is not None:
                return found
        return parse_number(completion, last=True)

    def score(self, item: Item, completion: str) -> float:
        got = self.extract(completion)
        return float(got is not None and got == Decimal(item.answer))
