r"""AIME 2025: the 30 problems of the 2025 American Invitational Mathematics Examination.

Splits: ``test`` is ``math-ai/aime25`` (``test.jsonl``: ``problem``, ``answer``, ``id``),
the dataset PostTrainBench evaluates through Inspect's ``aime2025`` task. ``dev`` is
AIME 2024, a different exam from a different repository
(``HuggingFaceH4/aime_2024``: ``id``, ``problem``, ``solution``, ``answer`` as a
zero-padded string, ``url``, ``year``; 30 problems). There is no train split.

>>> extract_boxed(r"not \boxed{\frac{1}{2}} but $\boxed{\text{0}70}$")
'\\text{0}70'
>>> AIME2025().extract(r"The angle is $\boxed{036^\circ}$.")
36
"""

from __future__ import annotations

import re
from typing import Any

from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.hub import DataSource, HubBenchmark
from ptb_env.errors import SplitNotAvailable

TEST_REPO = "math-ai/aime25"
DEV_REPO = "HuggingFaceH4/aime_2024"

INSTRUCTION = (
    "Solve the following problem. Reason step by step, and put your final answer, an integer "
    "from 0 to 999, in \\boxed{}."
)

_BOXED = re.compile(r"\\boxed\s*\{")
_BRACES = re.compile(r"[{}]")
_DEGREES = re.compile(r"\^\{?\\circ\}?")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}")
_NOISE = re.compile(r"\\[,;:! ]|\s|\$|\\%|%")
_INTEGER = re.compile(r"[+-]?([0-9]+)(?:\.0*)?")
_ANSWER = re.compile(r"(?i:answer)[ \t*]*:[ \t*$]*(-?[0-9]+)(?![0-9]|\.[0-9])")
_LAST_INT = re.compile(r"(?<![0-9.])(-?[0-9]+)(?![0-9]|\.[0-9])")


def extract_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` whose braces close (nested braces allowed), or None."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACES.finditer(text):  # one pass: every brace's partner
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            closing[stack.pop()] = m.start()
    for m in reversed(list(_BOXED.finditer(text))):
        end = closing.get(m.end() - 1)
        if end is not None:
            return text[m.end() : end]
    return None


def parse_integer(content: str) -> int | None:
    """The integer a boxed answer states (``036``, ``36^\\circ``, ``m+n=36``, ``\\text{36}``), or None."""
    text = _TEXT.sub(r"\1", _DEGREES.sub("", _NOISE.sub("", content)))
    text = text.rsplit("=", 1)[-1].rstrip(".")
    m = _INTEGER.fullmatch(text)
    if m is None:
        return None
    return -int(m.group(1)) if text.startswith("-") else int(m.group(1))


def canonical_answer(value: Any, where: str) -> str:
    """An AIME answer as canonical text (``"025"`` -> ``"25"``).

    Raises:
        SplitNotAvailable: The value is not an integer from 0 to 999 (a damaged or foreign file).
    """
    text = str(value).strip()
    if not text.isdigit() or not 0 <= int(text) <= 999:
        raise SplitNotAvailable(
            f"{where} has answer {text!r}, not an integer from 0 to 999. The local mirror may be "
            "damaged or hold another dataset: download it again."
        )
    return str(int(text))


class AIME2025(HubBenchmark):
    """AIME 2025, as in PostTrainBench (16,000 new tokens).

    The answer is the content of the last ``\\boxed{}`` of the reply (degree signs,
    spaces and leading zeros ignored); a reply without a box is read leniently:
    the last ``ANSWER: N``, else the last integer. A box that holds no integer
    (``\\boxed{\\frac{1}{2}}``) is a wrong answer. Scored by integer equality.

    Args:
        data_dir: Root of local dataset mirrors (default ``$PTB_ENV_DATA_DIR``).
    """

    name = "aime2025"
    description = "AIME 2025 competition math (30 problems); integer answers 0-999 in \\boxed{}."
    skill = "competition mathematics"
    max_new_tokens = 16000
    splits = ("dev", "test")
    sources = {
        "dev": DataSource(DEV_REPO, "data/train-00000-of-00001.parquet"),
        "test": DataSource(TEST_REPO, "test.jsonl"),
    }

    def to_items(self, split: str, rows: list[dict[str, Any]]) -> list[Item]:
        repo, exam = (TEST_REPO, "aime2025") if split == "test" else (DEV_REPO, "aime2024")
        items = []
        for row in rows:
            source_id = str(row["id"])
            answer = canonical_answer(row["answer"], f"Problem {source_id} of {repo}")
            solution = str(row.get("solution") or "").strip()
            target = f"{solution}\n\nThe final answer is $\\boxed{{{answer}}}$." if solution else ""
            meta = {"source_id": source_id, **{k: str(row[k]) for k in ("url", "year") if row.get(k)}}
            items.append(
                Item(
                    id=f"{exam}-{source_id}",
                    messages=(
                        {"role": "user", "content": f"{INSTRUCTION}\n\n{str(row['problem']).strip()}"},
                    ),
                    answer=answer,
                    target=target,
                    meta=meta,
                )
            )
        return items

    def extract(self, completion: str) -> int | None:
        boxed = extract_boxed(completion)
        if boxed is not None:
            return parse_integer(boxed)
        found = _ANSWER.findall(completion) or _LAST_INT.findall(completion)
        return int(found[-1]) if found else None

    def score(self, item: Item, completion: str) -> float:
        got = self.extract(completion)
        return float(got is not None and got == int(item.answer))
