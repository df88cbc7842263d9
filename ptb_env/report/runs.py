"""Recorded runs: trajectory files read into episodes, and their statistics per task and agent.

A runs directory holds trajectory files written by ``ptb_env.wrappers.RecordTrajectory``
(found recursively). Other ``.jsonl`` files (e.g. plain result lists) are skipped and
counted. An episode without a ``result`` line (crashed, interrupted or still running)
is shown but left out of the statistics.

>>> rows = leaderboard_rows([
...     Episode("a.jsonl", {"task": "t", "agent": "x", "seed": 0}, [], {"status": "ok", "reward": 0.1,
...             "score": 0.3, "base_score": 0.2}),
...     Episode("b.jsonl", {"task": "t", "agent": "x", "seed": 1}, [], {"status": "ok", "reward": 0.3,
...             "score": 0.5, "base_score": 0.2}),
... ])
>>> rows[0].n, round(rows[0].reward.mean, 6), round(rows[0].reward.sem, 6)
(2, 0.2, 0.1)
"""

from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptb_env.wrappers.record import read_trajectory


@dataclass
class Episode:
    """One recorded episode: the ``episode`` line, the ``step`` lines and how it ended."""

    path: str
    header: dict[str, Any]
    steps: list[dict[str, Any]]
    result: dict[str, Any] | None = None
    """The ``result`` line (``None`` when the episode did not end normally)."""
    end: dict[str, Any] | None = None
    """The ``error`` or ``interrupted`` line, if any."""

    @property
    def agent(self) -> str:
        return str((self.result or self.header).get("agent") or "unknown")

    @property
    def task(self) -> str:
        return str((self.result or self.header).get("task") or "?")

    @property
    def seed(self) -> Any:
        return self.header.get("seed")

    @property
    def status(self) -> str:
        """The grade's status, else ``error`` / ``interrupted`` / ``incomplete``."""
        if self.result is not None:
            return str(self.result.get("status") or "?")
        return str(self.end["type"]) if self.end else "incomplete"


def load_episodes(
    runs_dir: str | os.PathLike[str], *, progress: bool = True
) -> tuple[list[Episode], list[tuple[str, str]]]:
    """The episodes under ``runs_dir`` (sorted by start time), and the skipped files with why.

    Raises:
        ValueError: ``runs_dir`` is not a directory.
    """
    from tqdm.auto import tqdm

    root = Path(runs_dir)
    if not root.is_dir():
        raise ValueError(
            f"{str(root)!r} is not a directory of trajectories "
            "(wrap the env in ptb_env.wrappers.RecordTrajectory(env, directory) to write them)."
        )
    files = sorted(root.rglob("*.jsonl"))
    episodes: list[Episode] = []
    skipped: list[tuple[str, str]] = []
    for path in tqdm(files, desc="reading trajectories", unit="file", disable=not progress or not files):
        rel = str(path.relative_to(root))
        try:
            records = read_trajectory(path)
        except (OSError, ValueError) as err:
            skipped.append((rel, str(err)))
            continue
        ep = Episode(rel, records[0], [r for r in records if r.get("type") == "step"])
        for r in records[1:]:
            if r.get("type") == "result":
                ep.result = r
            elif r.get("type") in ("error", "interrupted"):
                ep.end = r
        episodes.append(ep)
    episodes.sort(key=lambda e: (str(e.header.get("started_at", "")), e.path))
    return episodes, skipped


@dataclass(frozen=True)
class Stat:
    """Mean and standard error of the mean of a sample (``sem`` is ``None`` below 2 values)."""

    mean: float | None
    sem: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[Any]) -> Stat:
        xs = [x for x in map(number, values) if x is not None and math.isfinite(x)]
        if not xs:
            return cls(None, None, 0)
        sem = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else None
        return cls(statistics.fmean(xs), sem, len(xs))


@dataclass(frozen=True)
class Row:
    """The episodes of one (task, agent) cell of the leaderboard.

    ``score`` counts a run as PostTrainBench does (``ptb_env.leaderboard``): its test score
    when the status is ``ok``, else the base model's score.
    """

    task: str
    agent: str
    n: int
    seeds: tuple[Any, ...]
    reward: Stat
    score: Stat
    base: Stat
    flagged: int
    """Finished episodes whose status is not ``ok`` (disqualified, invalid, infra error)."""
    unfinished: int
    """Episodes without a result line (left out of the statistics)."""
    statuses: dict[str, int] = field(default_factory=dict)


def _counted_score(result: dict[str, Any]) -> float | None:
    return number(result.get("score") if result.get("status") == "ok" else result.get("base_score"))


def leaderboard_rows(episodes: Iterable[Episode]) -> list[Row]:
    """One row per (task, agent): mean +/- SEM over finished episodes (seeds) of reward and score.

    Rows are sorted by task, then by mean reward (best first).
    """
    cells: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for ep in episodes:
        cells[ep.task, ep.agent].append(ep)
    rows = []
    for (task, agent), eps in cells.items():
        done = [e.result for e in eps if e.result is not None]
        statuses: dict[str, int] = defaultdict(int)
        for e in eps:
            statuses[e.status] += 1
        rows.append(
            Row(
                task=task,
                agent=agent,
                n=len(done),
                seeds=tuple(e.seed for e in eps if e.result is not None),
                reward=Stat.of([r.get("reward") for r in done]),
                score=Stat.of([_counted_score(r) for r in done]),
                base=Stat.of([r.get("base_score") for r in done]),
                flagged=sum(r.get("status") != "ok" for r in done),
                unfinished=len(eps) - len(done),
                statuses=dict(statuses),
            )
        )
    rows.sort(key=lambda r: (r.task, -(r.reward.mean if r.reward.mean is not None else -math.inf), r.agent))
    return rows


def number(value: Any) -> float | None:
    """A recorded number as a float (``"inf"`` strings included); ``None`` when missing."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def tool_seconds(ep: Episode) -> dict[str, tuple[float, int]]:
    """Wall seconds and call count per tool; grading and reset are their own entries.

    The grading time (from the result's grade) is moved out of the step that ended the episode.
    """
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    reset = number(ep.header.get("reset_seconds"))
    if reset:
        out["(reset)"] = [reset, 1]
    for step in ep.steps:
        name = str(step.get("tool") or "(invalid call)")
        out[name][0] += number(step.get("seconds")) or 0.0
        out[name][1] += 1
    grade = (ep.result or {}).get("grade") or {}
    grading = number(grade.get("seconds")) if isinstance(grade, dict) else None
    if grading and ep.steps:
        last = str(ep.steps[-1].get("tool") or "(invalid call)")
        out[last][0] = max(0.0, out[last][0] - grading)
        out["(grading)"] = [grading, 1]
    return {k: (v[0], int(v[1])) for k, v in out.items()}
