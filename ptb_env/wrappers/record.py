"""RecordTrajectory: one JSON Lines file per episode, and ``replay`` to re-run one.

A trajectory file holds one JSON object per line, each with a ``"type"``:

- ``episode`` (first line): task, seed, agent, episode id, start time, task card, base
  score, tool schemas, the budget at reset and the env settings that ``replay`` needs;
- ``step`` (one per step): the action as given, the head and tail of the output, the
  error, the tool's data (``result``: ``info["result"]``), the budget left, the dev
  scores, the tool, the step's reward and wall time;
- ``result`` (last line, when the episode ends): the episode's
  :class:`~ptb_env.rollout.EpisodeResult` (``agent``, ``task``, ``seed``, ``status``,
  ``reward``, ``uplift``, ``score``, ``base_score``, ..., ``grade``, ``integrity``) and
  ``truncated_by``, so ``ptb-env leaderboard`` reads trajectory files;
- ``error`` (instead of a result): ``step`` raised (e.g. a ``GraderError``);
- ``interrupted`` (instead of a result): ``reset`` or ``close`` came before the end.

Every line is flushed as it is written: a crashed episode leaves a readable prefix.
The JSON is strict (RFC 8259), so any parser reads it: NaN (e.g. a dev score before
the first ``evaluate``) is written as ``null``, +/-infinity (an unlimited budget) as the
strings ``"inf"`` / ``"-inf"``; numpy values become plain numbers and lists.

File names are ``<UTC start>-<episode id>-<random hex>.jsonl``, created exclusively, so
many envs (vector envs, processes, machines on a shared disk) can write into one directory.

>>> import gymnasium as gym, ptb_env  # doctest: +SKIP
>>> from ptb_env.wrappers import RecordTrajectory  # doctest: +SKIP
>>> env = RecordTrajectory(gym.make("PostTrain-v0"), "runs", agent="me")  # doctest: +SKIP
>>> reward, info = replay(env.path)  # after an episode  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import gymnasium as gym
import numpy as np

from ptb_env.rollout import EpisodeResult
from ptb_env.text import truncate_middle
from ptb_env.tools.runner import shorten

FORMAT_VERSION = 1
"""Version of the trajectory format (the ``format`` field of the ``episode`` line)."""
TASK_CARD_CHARS = 20_000
"""Characters kept of the task card in the ``episode`` line (head and tail)."""
RESULT_CHARS = 2000
"""Characters kept of each string in a step's tool data (head and tail)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: numpy to Python, NaN to ``None``, +/-inf to ``"inf"``/``"-inf"``.

    Mappings get string keys; tuples, sets and arrays become lists; paths become strings;
    dataclasses become dicts; anything else becomes its ``repr``.

    >>> to_json({"a": np.float64("nan"), "b": (np.int64(2), float("inf")), 3: np.array([0.5])})
    {'a': None, 'b': [2, 'inf'], '3': [0.5]}
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else value
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    return repr(value)


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(to_json(record), ensure_ascii=False, allow_nan=False)


def _number(value: Any) -> float | None:
    """A score as a float, ``None`` when missing or NaN."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


class RecordTrajectory(gym.Wrapper):
    """Write each episode of a ``PostTrain`` env to its own JSON Lines file in ``directory``.

    Args:
        env: The env to record (``PostTrain-v0`` or a wrapper of it).
        directory: Where the ``.jsonl`` files go (created if missing; shared by many envs).
        agent: Name of the agent, written to every file (``ptb-env leaderboard`` groups by
            it); ``"unknown"`` when not given. The attribute may be set between episodes.
        output_chars: Characters kept of the head and of the tail of each step's output.
            The action is always recorded whole (``replay`` needs it).

    Attributes:
        path: The current (or last) episode's file; ``None`` before the first reset.
    """

    def __init__(
        self,
        env: gym.Env,
        directory: str | os.PathLike[str],
        *,
        agent: str | None = None,
        output_chars: int = 2000,
    ) -> None:
        super().__init__(env)
        if output_chars < 0:
            raise ValueError(f"Expect `output_chars` to be 0 or more, actually: {output_chars}.")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.agent = agent or "unknown"
        self.output_chars = output_chars
        self.path: Path | None = None
        self._file: IO[str] | None = None
        self._t0 = 0.0
        self._steps = 0
        self._reward = 0.0
        self._episode: dict[str, Any] = {}

    # -- writing -------------------------------------------------------------
    def _write(self, record: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(_dumps(record) + "\n")
        self._file.flush()

    def _open(self, episode_id: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        name = _UNSAFE.sub("_", episode_id)[:80] or "episode"
        while True:
            path = self.directory / f"{stamp}-{name}-{secrets.token_hex(4)}.jsonl"
            try:  # "x": never two writers on one file. Lone surrogates (arbitrary text) have
                # no UTF-8 form: "backslashreplace" writes them as \udcff, a valid JSON string escape.
                self._file = open(path, "x", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
            except FileExistsError:  # pragma: no cover - 32 random bits collided
                continue
            self.path = path
            return

    def _end(self, kind: str, **fields: Any) -> None:
        """Write the closing line of an unfinished episode (if any) and close its file."""
        if self._file is None:
            return
        if kind:
            self._write({"type": kind, "steps": self._steps, "t": time.perf_counter() - self._t0, **fields})
        self._file.close()
        self._file = None

    # -- gymnasium API ---------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and start a new file (an unfinished episode's file ends ``interrupted``)."""
        self._end("interrupted", reason="reset() before the episode ended")
        self._t0 = time.perf_counter()
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        obs, info = self.env.reset(seed=seed, options=options)
        self._steps, self._reward = 0, 0.0
        task = info.get("task") or getattr(getattr(self.env.unwrapped, "task", None), "id", None)
        episode_id = str(info.get("episode_id") or secrets.token_hex(6))
        self._episode = {"task": task, "seed": seed, "base_score": _number(info.get("base_score"))}
        self._open(episode_id)
        self._write(
            {
                "type": "episode",
                "format": FORMAT_VERSION,
                "task": task,
                "seed": seed,
                "agent": self.agent,
                "episode_id": episode_id,
                "started_at": started_at,
                "reset_seconds": time.perf_counter() - self._t0,
                "base_score": self._episode["base_score"],
                "budget": self._budget(obs),
                "env": self._settings(),
                "task_card": truncate_middle(str(info.get("task_card", "")), TASK_CARD_CHARS),
                "tool_schemas": info.get("tool_schemas"),
            }
        )
        return obs, info

    def step(self, action: Any):
        """Step the env and append the step (and, when the episode ends, the result) to the file."""
        start = time.perf_counter()
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as err:
            self._end("error", error=f"{type(err).__name__}: {err}", action=self._action(action))
            raise
        now = time.perf_counter()
        self._steps += 1
        self._reward += float(reward)
        output = str(obs.get("output", "")) if isinstance(obs, Mapping) else ""
        n = self.output_chars
        head = output[:n]
        tail = output[n:][-n:] if n else ""  # the tail never repeats the head
        self._write(
            {
                "type": "step",
                "i": self._steps,
                "tool": info.get("tool"),
                "action": self._action(action),
                "output_head": head,
                "output_tail": tail,
                "output_chars": len(output),
                "error": str(obs.get("error", "")) if isinstance(obs, Mapping) else "",
                "result": self._data(info.get("result")),
                "budget": self._budget(obs),
                "dev_score": _number(obs.get("last_dev_score")) if isinstance(obs, Mapping) else None,
                "best_dev_score": _number(obs.get("best_dev_score")) if isinstance(obs, Mapping) else None,
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "t": now - self._t0,
                "seconds": now - start,
            }
        )
        if terminated or truncated:
            self._write(self._result(info, terminated, truncated, now))
            self._end("")
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Close the file (an unfinished episode ends ``interrupted``), then the env."""
        self._end("interrupted", reason="close() before the episode ended")
        super().close()

    # -- records -----------------------------------------------------------------
    @staticmethod
    def _action(action: Any) -> Any:
        if isinstance(action, (str, Mapping)):
            try:
                return to_json(action)
            except RecursionError:
                return {"unrecordable": f"{type(action).__name__} nested too deeply to record"}
        return repr(action)[:10_000]

    def _data(self, data: Any) -> Any:
        """The step's tool data (``info["result"]``), its strings cut like the output."""
        return shorten(data, RESULT_CHARS) if isinstance(data, Mapping) else None

    @staticmethod
    def _budget(obs: Any) -> dict[str, Any]:
        budget = obs.get("budget", {}) if isinstance(obs, Mapping) else {}
        return {str(k): to_json(float(v)) for k, v in budget.items()}

    def _settings(self) -> dict[str, Any]:
        """The env's settings that ``replay`` passes to ``gym.make`` (secrets and judges left out)."""
        env = self.env.unwrapped
        limits = getattr(env, "limits", None)
        if not isinstance(limits, Mapping):
            return {}
        out: dict[str, Any] = {
            "time_limit_s": limits.get("seconds"),
            "max_steps": limits.get("steps"),
            "max_dev_evals": limits.get("dev_evals"),
        }
        if limits.get("compute_tflop") is not None:  # its wall clock is the safety limit, from the task's
            from ptb_env.compute import WALL_CLOCK_FACTOR

            out.update(budget="compute", compute_tflop=limits["compute_tflop"])
            if out["time_limit_s"] is not None:
                out["time_limit_s"] = out["time_limit_s"] / WALL_CLOCK_FACTOR
        for key, attr in (("sandbox", "sandbox_kind"), ("reward_mode", "reward_mode")):
            if hasattr(env, attr):
                out[key] = getattr(env, attr)
        test_limit = getattr(getattr(env, "task", None), "test_limit", None)
        if test_limit is not None:
            out["test_limit"] = test_limit
        if hasattr(env, "dev_shaping"):
            out["dev_shaping"] = float(env.dev_shaping)
        integrity = getattr(env, "integrity", None)
        if integrity is not None:
            out["integrity"] = {k: getattr(integrity, k) for k in ("contamination", "lineage", "penalty")}
        return out

    def _result(self, info: Mapping[str, Any], terminated: bool, truncated: bool, now: float) -> dict:
        """The ``result`` line: the episode's :class:`~ptb_env.rollout.EpisodeResult` and ``truncated_by``."""
        result = EpisodeResult.from_info(
            info,
            agent=self.agent or "",
            task=self._episode.get("task") or "",
            seed=self._episode.get("seed"),
            reward=self._reward,
            steps=self._steps,
            seconds=now - self._t0,
            terminated=terminated,
            truncated=truncated,
        )
        record = {"type": "result", **result.to_dict(), "truncated_by": info.get("truncated_by", [])}
        record["agent"], record["task"] = self.agent, self._episode.get("task")
        if _number(result.base_score) is None:  # an infra_error before grading: the reset's base score
            record["base_score"] = self._episode.get("base_score")
        # the grade's integrity verdicts are the record's own ``integrity``
        record["grade"] = (
            {k: v for k, v in result.grade.items() if k != "integrity"} if result.grade else None
        )
        return record


def read_trajectory(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a trajectory file, in order (a cut-off last line, from a crash, is dropped).

    Raises:
        ValueError: A line other than the last is not JSON, or the file has no ``episode`` line.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as err:
            if i == len(lines) - 1:
                break  # the writer died mid-line
            raise ValueError(f"{path}, line {i + 1}: not JSON ({err}).") from None
    if not records or records[0].get("type") != "episode":
        raise ValueError(f"{path} is not a trajectory: its first line is not an 'episode' record.")
    return records


def _float_or_inf(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf") else value


def replay(
    path: str | os.PathLike[str], env: gym.Env | None = None, **make_kwargs: Any
) -> tuple[float, dict[str, Any]]:
    """Re-run a recorded episode's actions with its seed; returns the summed reward and the last info.

    Args:
        path: A trajectory file written by ``RecordTrajectory``.
        env: The env to replay in (reset with the recorded seed, left open). Default: a fresh
            ``gym.make("PostTrain-v0", task=<recorded task>, **<recorded settings>)``, closed after.
        **make_kwargs: Override or add ``gym.make`` keywords of the fresh env (e.g.
            ``workspace_root``, ``integrity``).

    The last info gains ``info["replay"] = {"steps", "recorded_steps", "complete"}``:
    ``complete`` is false when the recorded actions ran out before the episode ended (a
    crashed recording) or the episode ended before them (it diverged). Actions that held
    NaN or infinities are replayed as recorded (``null``, ``"inf"``).
    On CPU the tiny world reproduces the recorded reward exactly (same weights, same grade).
    """
    records = read_trajectory(path)
    header = records[0]
    actions = [r["action"] for r in records if r.get("type") == "step"]
    own = env is None
    if env is None:
        import ptb_env  # noqa: F401 - registers the envs

        settings = {k: _float_or_inf(v) for k, v in (header.get("env") or {}).items()}
        if isinstance(settings.get("integrity"), Mapping):
            from ptb_env.integrity import IntegrityConfig

            settings["integrity"] = IntegrityConfig(**settings["integrity"])
        env = gym.make("PostTrain-v0", task=header["task"], **{**settings, **make_kwargs})
    try:
        _, info = env.reset(seed=header.get("seed"))
        total, done, steps = 0.0, False, 0
        for action in actions:
            _, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
            if done:
                break
        info = dict(info)
        info["replay"] = {
            "steps": steps,
            "recorded_steps": len(actions),
            "complete": done and steps == len(actions),
        }
        return total, info
    finally:
        if own:
            env.close()


__all__ = ["FORMAT_VERSION", "RecordTrajectory", "read_trajectory", "replay", "to_json"]
