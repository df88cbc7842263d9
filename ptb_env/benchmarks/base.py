"""The Benchmark protocol: items, chat prompts, answer extraction, scoring and splits."""

from __future__ import annotations

import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ptb_env.errors import SplitNotAvailable

SPLITS = ("train", "dev", "test")

Message = dict[str, str]


@dataclass(frozen=True)
class Item:
    """One benchmark item.

    Attributes:
        id: stable identifier, unique within a split.
        messages: the chat prompt (system and/or user turns), without the answer.
        answer: the reference answer in canonical text form (a number, a JSON call, a letter).
        target: a reference assistant reply (what a perfect model would write); used to
            build supervised training data. Empty when unknown.
        meta: free-form metadata (template ids, number of operations, ...).
    """

    id: str
    messages: tuple[Message, ...]
    answer: str
    target: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The item as a JSON-serialisable dict (the on-disk row format)."""
        return {
            "id": self.id,
            "messages": list(self.messages),
            "answer": self.answer,
            "target": self.target,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Item:
        """Inverse of :meth:`to_json`."""
        return cls(
            id=str(row["id"]),
            messages=tuple(dict(m) for m in row["messages"]),
            answer=str(row["answer"]),
            target=str(row.get("target", "")),
            meta=dict(row.get("meta", {})),
        )

    def chat_example(self) -> dict[str, list[Message]]:
        """The item as a supervised chat example: prompt turns plus the reference reply."""
        return {"messages": [*self.messages, {"role": "assistant", "content": self.target}]}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows as JSON lines (UTF-8, one object per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


class Benchmark(ABC):
    """A benchmark: where its items come from, how prompts look, how replies are scored.

    Subclasses set the class attributes and implement :meth:`extract` and
    :meth:`score`; :meth:`items` reads fixed splits from files and the train
    split from :meth:`generate` when the benchmark has a generator.
    """

    name: str = ""
    description: str = ""
    skill: str = ""
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    """Strings that end a reply (cut after generation; EOS and the task's stop tokens end it too)."""
    splits: tuple[str, ...] = SPLITS

    # --- splits ---------------------------------------------------------------
    def split_path(self, split: str) -> Path | None:
        """File holding a fixed split, or None when the split is generated."""
        return None

    def generate(self, n: int, seed: int = 0, **options: Any) -> list[Item]:
        """``n`` fresh training items from a seeded generator (same seed, same items).

        ``options`` are the generator's own (:meth:`generator_options`), e.g. ``ops=(1, 5)``.
        """
        raise SplitNotAvailable(f"Benchmark {self.name!r} has no train-data generator.")

    def generator_options(self) -> dict[str, GeneratorOption]:
        """Options of the train-data generator beyond ``n`` and ``seed``, by name (none by default)."""
        return {}

    STRUCTURE_OPTIONS: ClassVar[Mapping[str, Any]] = {}
    """Generator options that draw the structure of the shifted splits (test, dev-shift), the
    default's kept in the mix: what the dev-shift split shows a strong agent. The ``expert``
    baseline and the tiny grid's reference recipe use them; empty where the test shifts names
    and wordings only, or the benchmark has no generator."""

    def items(self, split: str, limit: int | None = None, seed: int = 0) -> list[Item]:
        """Items of a split, the first ``limit`` of them when given.

        ``train`` is generated (``limit`` items, default 1000, from ``seed``); ``dev`` and
        ``test`` are fixed files. Raises :class:`SplitNotAvailable` for an unknown split
        or a split whose file is not readable here (e.g. the hidden test split inside
        the agent's sandbox).
        """
        if split not in self.splits:
            raise SplitNotAvailable(
                f"Benchmark {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}."
            )
        if split == "train":
            return self.generate(1000 if limit is None else limit, seed=seed)
        path = self.split_path(split)
        if path is None or not path.is_file():
            raise SplitNotAvailable(
                f"Split {split!r} of {self.name!r} is not available here (expected {path}). "
                "The test split is hidden from agents; it is only readable by the grader."
            )
        rows = read_jsonl(path)
        return [Item.from_json(r) for r in rows[:limit]]

    def public_split(self, split: str) -> Path | bytes | None:
        """A split as a file an agent may read (a path, or JSON-lines bytes), None when unavailable."""
        path = self.split_path(split)
        return path if path is not None and path.is_file() else None

    def control_items(self) -> list[Item]:
        """Items drawn like the hidden test split but not in it, for the contamination scan's
        chance level (none by default: a benchmark that cannot draw them is scanned without).

        An agent that never saw the test split matches these as often as test items; only a
        leak makes it match test items far more often (:mod:`ptb_env.integrity.contamination`).
        """
        return []

    def fingerprint(self, split: str) -> str:
        """Hash of a split's content: part of the score-cache key.

        Raises:
            SplitNotAvailable: The split is generated or its file is not readable here.
        """
        path = self.split_path(split)
        if path is None or not path.is_file():
            raise SplitNotAvailable(f"Split {split!r} of {self.name!r} is missing at {path}.")
        return hashlib.sha256(path.read_bytes()).hexdigest()

    # --- scoring --------------------------------------------------------------
    def score_batch(self, items: list[Item], completions: list[str]) -> list[float]:
        """Scores of many replies (override to score in parallel, e.g. executing code)."""
        return [self.score(it, c) for it, c in zip(items, completions, strict=True)]

    @abstractmethod
    def extract(self, completion: str) -> Any | None:
        """The answer found in a model reply, or None when there is none."""

    @abstractmethod
    def score(self, item: Item, completion: str) -> float:
        """Score of one reply for one item, in [0, 1]."""

    def metadata(self) -> dict[str, Any]:
        """Descriptive metadata (for task cards and docs)."""
        return {
            "name": self.name,
            "description": self.description,
            "skill": self.skill,
            "max_new_tokens": self.max_new_tokens,
            "splits": list(self.splits),
        }


@dataclass(frozen=True)
class GeneratorOption:
    """An option of a benchmark's train-data generator (a field of its vocabulary).

    ``parse`` turns the command line's text (or a Python value) into the field's value and
    raises ``ValueError`` with a clear message for a bad one.
    """

    parse: Callable[[Any], Any]
    help: str


def int_range(text: Any) -> tuple[int, ...]:
    """``"1-5"``, ``"3"`` or ``(1, 5)`` as the integers of that inclusive range, ``(1, 2, 3, 4, 5)``."""
    if isinstance(text, (tuple, list)):
        low, high = (int(text[0]), int(text[-1]))
    else:
        low_s, _, high_s = str(text).partition("-")
        try:
            low, high = int(low_s), int(high_s or low_s)
        except ValueError:
            raise ValueError(f"Expect a range like '1-5' or '3', actually got {text!r}.") from None
    if not 1 <= low <= high:
        raise ValueError(f"Expect a range 'low-high' with 1 <= low <= high, actually got {text!r}.")
    return tuple(range(low, high + 1))


def probability(text: Any) -> float:
    """A number in [0, 1]."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Expect a probability in [0, 1], actually got {text!r}.")
    return value


def rng_for(seed: int, *salt: object) -> random.Random:
    """A ``random.Random`` seeded from ``seed`` and a salt, stable across runs and platforms."""
    return random.Random(f"{seed}|" + "|".join(map(str, salt)))


class SyntheticBenchmark(Benchmark):
    """A tiny-world benchmark: public generator for train, fixed dev files, hidden test file.

    Two dev splits live in the public data directory: ``dev``, drawn from the public
    vocabulary like train, and ``dev-shift``, drawn from a third vocabulary
    (:mod:`ptb_env.tiny.shift`) with the same kind of shift as test. The test split lives
    in the private directory, which the agent's sandbox masks. Subclasses provide
    :meth:`make_item`, the public vocabulary the generator draws on, and the shifted one.
    """

    splits = ("train", "dev", "dev-shift", "test")

    def __init__(self, data_dir: Path, private_dir: Path) -> None:
        self._data_dir = data_dir
        self._private_dir = private_dir
        self._control: list[Item] | None = None

    def split_path(self, split: str) -> Path | None:
        if split in ("dev", "dev-shift"):
            return self._data_dir / self.name / f"{split.replace('-', '_')}.jsonl"
        if split == "test":
            return self._private_dir / "benchmarks" / self.name / "test.jsonl"
        return None

    @abstractmethod
    def make_item(self, rng: random.Random, vocab: Any, item_id: str) -> Item:
        """One item drawn with ``rng`` from ``vocab``."""

    @abstractmethod
    def public_vocab(self) -> Any:
        """The vocabulary of the train and dev splits."""

    @abstractmethod
    def heldout_vocab(self, spec: Mapping[str, Any]) -> Any:
        """The vocabulary of the test split, from this benchmark's entry of the private held-out file."""

    heldout_key: str | None = None
    """This benchmark's entry of the private held-out file (``None``: its name; a harder version
    of a benchmark shares its predecessor's held-out vocabulary)."""

    CONTROL_COPIES = 10
    """Control items per test item (:meth:`control_items`): ten test-sized draws."""

    def control_items(self) -> list[Item]:
        """``CONTROL_COPIES`` x the test split's size of items drawn from the held-out vocabulary
        with another seed (the host only: the held-out file is private). Drawn once per instance."""
        if self._control is None:
            heldout = self._heldout()
            vocab = self.heldout_vocab(heldout[self.heldout_key or self.name])
            n = self.CONTROL_COPIES * heldout["n_test"]
            self._control = self.make_items(n, heldout["seed"], "control", vocab)
        return list(self._control)

    def _heldout(self) -> dict[str, Any]:
        path = self._private_dir / "heldout.json"
        if not path.is_file():
            raise SplitNotAvailable(
                f"The held-out vocabulary of {self.name!r} is not available here ({path})."
            )
        return json.loads(path.read_text(encoding="utf-8"))

    @abstractmethod
    def shift_vocab(self) -> Any:
        """The vocabulary of the dev-shift split: disjoint from the public and the held-out one."""

    def make_items(self, n: int, seed: int, split: str, vocab: Any) -> list[Item]:
        """``n`` items of ``split`` from ``vocab``; same arguments, same items."""
        return [
            self.make_item(rng_for(seed, self.name, split, i), vocab, f"{split}-{seed}-{i}") for i in range(n)
        ]

    def generate(self, n: int, seed: int = 0, **options: Any) -> list[Item]:
        vocab = self.public_vocab()
        if options:
            known = self.generator_options()
            unknown = sorted(set(options) - set(known))
            if unknown:
                raise ValueError(
                    f"{self.name!r}'s generator has no option {', '.join(map(repr, unknown))}; "
                    f"options: {', '.join(known) or 'none'}."
                )
            vocab = replace(vocab, **{k: known[k].parse(v) for k, v in options.items()})
        return self.make_items(n, seed, "train", vocab)
