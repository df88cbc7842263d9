"""Real benchmarks loaded with ``datasets``: from the Hugging Face hub or from a local copy.

A :class:`HubBenchmark` names, for each split it has, a :class:`DataSource`: a
dataset repository on the hub and the files of the split inside it. The same
files can sit in a local mirror of the repository, which is how offline
machines (and the tests) run: ``$PTB_ENV_DATA_DIR/<repo id>/<files>``, e.g.
``$PTB_ENV_DATA_DIR/openai/gsm8k/main/test-00000-of-00001.parquet``, the layout
``hf download --repo-type dataset openai/gsm8k --local-dir $PTB_ENV_DATA_DIR/openai/gsm8k``
writes. A mirror wins over the hub; without one, ``datasets`` loads from the hub
(or from its cache when ``HF_HUB_OFFLINE=1``).

Subclasses turn raw rows into :class:`~ptb_env.benchmarks.base.Item` s
(:meth:`HubBenchmark.to_items`) and score replies; the rows of a split are read
once per process.

>>> DataSource("openai/gsm8k", "main/test-*.parquet").builder()
'parquet'
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb_env.benchmarks.base import Benchmark, Item
from ptb_env.errors import SplitNotAvailable

DATA_DIR_ENV = "PTB_ENV_DATA_DIR"
"""Environment variable naming the root of local dataset mirrors."""

_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".gz": "json"}


@dataclass(frozen=True)
class DataSource:
    """The files of one split in a dataset repository.

    Attributes:
        repo: Dataset repository id on the hub (``"openai/gsm8k"``).
        files: Glob of the split's files inside the repository (``"main/test-*.parquet"``).
        revision: Git revision of the repository (``None``: the default branch).
        gated: The repository needs accepted terms and a token (said in error messages).
    """

    repo: str
    files: str
    revision: str | None = None
    gated: bool = False

    def builder(self) -> str:
        """The ``datasets`` builder for the files (parquet, json or csv)."""
        suffix = "".join(Path(self.files).suffixes[-1:])
        try:
            return _BUILDERS[suffix]
        except KeyError:
            raise ValueError(f"No datasets builder for {self.files!r}: use parquet, json or csv.") from None

    def local_dir(self, data_dir: Path | None) -> Path | None:
        """The local mirror of the repository, if one exists under ``data_dir``."""
        if data_dir is None:
            return None
        path = data_dir / self.repo
        return path if path.is_dir() else None

    def load(self, data_dir: Path | None = None) -> list[dict[str, Any]]:
        """The rows of the split, from the local mirror if there is one, else from the hub.

        Raises:
            SplitNotAvailable: Neither a mirror nor the hub (or its offline cache) has the files.
        """
        from datasets import load_dataset  # heavy; only real benchmarks need it

        local = self.local_dir(data_dir)
        files: str | list[str]
        if local is not None:
            files = sorted(str(p) for p in local.glob(self.files))
            if not files:
                raise SplitNotAvailable(f"The mirror {local} has no files matching {self.files!r}.")
        else:
            files = f"hf://datasets/{self.repo}@{self.revision or 'main'}/{self.files}"
        # CSV cells are text: keep "None", "NA", "N/A" (real answer texts) rather than turning them to nulls
        options = {"keep_default_na": False} if self.builder() == "csv" else {}
        try:
            ds = load_dataset(self.builder(), data_files={"rows": files}, split="rows", **options)
        except Exception as err:  # noqa: BLE001 - any loader failure: say where the data should be
            gated = " It is gated: accept its terms on the hub and set HF_TOKEN." if self.gated else ""
            raise SplitNotAvailable(
                f"Could not load {self.repo}/{self.files} ({type(err).__name__}: {err}).{gated} Offline, "
                f"put a copy of the repository at ${DATA_DIR_ENV}/{self.repo} "
                f"(`hf download --repo-type dataset {self.repo} --local-dir <dir>`)."
            ) from err
        return [dict(r) for r in ds]


def default_data_dir() -> Path | None:
    """``$PTB_ENV_DATA_DIR`` as a path, or None when unset."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser().resolve() if env else None


class HubBenchmark(Benchmark):
    """A benchmark whose splits are datasets on the hub (or local mirrors of them).

    Subclasses set ``sources`` (split -> :class:`DataSource`) and implement
    :meth:`to_items`. A split may derive from another source (GSM8K's dev split is a
    fixed sample of its train split): override :meth:`load_items` for that.

    Args:
        data_dir: Root of local mirrors (default ``$PTB_ENV_DATA_DIR``).
    """

    world = "ptb"
    sources: Mapping[str, DataSource] = {}

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()
        self._items: dict[str, list[Item]] = {}
        self._fingerprints: dict[str, str] = {}

    # --- loading --------------------------------------------------------------
    def rows(self, split: str) -> list[dict[str, Any]]:
        """Raw rows of ``split``'s source."""
        try:
            source = self.sources[split]
        except KeyError:
            raise SplitNotAvailable(f"Benchmark {self.name!r} has no source for split {split!r}.") from None
        return source.load(self.data_dir)

    def load_items(self, split: str) -> list[Item]:
        """All items of ``split`` (override for derived splits)."""
        return self.to_items(split, self.rows(split))

    def to_items(self, split: str, rows: list[dict[str, Any]]) -> list[Item]:
        """Items of ``split`` from its raw rows."""
        raise NotImplementedError

    def items(self, split: str, limit: int | None = None, seed: int = 0) -> list[Item]:
        """Items of a split (read once per benchmark object), the first ``limit`` when given.

        Raises:
            SplitNotAvailable: The benchmark has no such split or its data cannot be loaded.
        """
        if split not in self.splits:
            raise SplitNotAvailable(
                f"Benchmark {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}."
            )
        if split not in self._items:
            self._items[split] = self.load_items(split)
        return self._items[split][:limit]

    def public_split(self, split: str) -> Path | bytes | None:
        """The split as JSON-lines bytes (the tiny benchmarks' row format); None if it cannot load."""
        try:
            rows = [it.to_json() for it in self.items(split)]
        except SplitNotAvailable:
            return None
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()

    def generate(self, n: int, seed: int = 0, **options: Any) -> list[Item]:
        """``n`` items of the train split in a seeded order (``generate`` of the tiny benchmarks).

        Raises:
            SplitNotAvailable: The benchmark has no train split (find training data elsewhere).
            ValueError: ``options`` given (this generator has none).
        """
        if options:
            raise ValueError(f"{self.name!r}'s generator has no options; got {', '.join(options)}.")
        if "train" not in self.splits:
            raise SplitNotAvailable(
                f"Benchmark {self.name!r} has no train split; training data must come from elsewhere."
            )
        items = list(self.items("train"))
        random.Random(f"{seed}|{self.name}|train").shuffle(items)
        return items[:n]

    def fingerprint(self, split: str) -> str:
        """Hash of the split's items (prompts and answers): part of the score-cache key.

        Computed once per split: the items are read once, and every score-cache key asks for it.
        """
        if split not in self._fingerprints:
            rows = [it.to_json() for it in self.items(split)]
            self._fingerprints[split] = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
        return self._fingerprints[split]

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["sources"] = {s: f"{src.repo}/{src.files}" for s, src in self.sources.items()}
        return meta
