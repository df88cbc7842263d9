"""RecipeWrapper: a PostTrain episode as a small discrete decision problem for classic RL.

Each action of the wrapper is a *macro action*, one of:

- ``train(data, lr, steps)``: one training round with a recipe picked from a few levels
  of data amount, learning rate and optimizer steps. The wrapper generates the training
  data in the sandbox (``python -m ptb_env.benchmarks.generate``; once per data amount and
  episode), calls the ``train`` tool and waits for the job. When a checkpoint exists, the
  round continues from ``final_model/`` (``train(init=final_model)`` into ``rounds/<n>/``,
  moved to ``final_model/`` when the job succeeds); otherwise it trains from the base
  model into ``final_model/``.
- ``evaluate``: the ``evaluate`` tool on ``final_model/`` (dev split, ``eval_limit`` items).
- ``submit``: the ``submit`` tool; the episode ends and is graded.

Every inner tool call goes through the inner env's ``step``, so the budget, the sandbox
and the grading are the env's own; the reward is the sum of the inner rewards (the
terminal uplift, plus dev shaping if the inner env has it on).

Observations are a flat ``Box(-1, 1, (13,), float32)`` whose layout is ``OBS_NAMES``;
``action_masks()`` (the sb3-contrib ``MaskablePPO`` convention) and ``info["action_mask"]``
say which actions make sense now. A masked action taken anyway runs no macro: it costs one
inner step (a ``job_status`` call) and ``info["invalid_action"]`` says why it was invalid.

>>> import gymnasium as gym, ptb_env  # doctest: +SKIP
>>> env = gym.make("PostTrainRecipe-v0", time_limit_s=120)  # doctest: +SKIP
>>> obs, info = env.reset(seed=0)  # doctest: +SKIP
>>> env.get_wrapper_attr("action_names")[-2:]  # doctest: +SKIP
['evaluate(limit=50)', 'submit']
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ptb_env.benchmarks import list_benchmarks
from ptb_env.compute import eval_tflop, job_start_tflop, train_step_tflop
from ptb_env.env import PostTrainEnv
from ptb_env.errors import EpisodeNotRunning

OBS_NAMES = (
    "seconds_left_frac",
    "steps_left_frac",
    "dev_evals_left_frac",
    "has_dev_score",
    "best_dev_score",
    "last_dev_score",
    "has_checkpoint",
    "rounds_frac",
    "last_train_ok",
    "last_data_level",
    "last_lr_level",
    "last_steps_level",
    "last_action_invalid",
)
"""Meaning of each entry of the observation vector (see ``docs/recipe-wrapper.md``)."""
MAX_ROUNDS_OBS = 10
"""``rounds_frac`` is ``min(rounds, MAX_ROUNDS_OBS) / MAX_ROUNDS_OBS``."""
MIN_ROUND_STEPS = 5
"""On the compute budget, ``train`` is masked when the TFLOP left cannot pay this many steps."""
ROUND_TOKENS = 128
"""Tokens per example the mask assumes (the tiny generators' examples are at most ~120 tokens;
the tool charges the data's real longest)."""
MAX_WAITS = 10_000
"""Most ``wait`` calls of one training round (a job cannot outlive the budget anyway)."""


@dataclass(frozen=True)
class RecipeConfig:
    """The macro actions of the wrapper and how they are sized."""

    data_levels: tuple[int, ...] = (500, 2000, 8000)
    """Training examples generated for a round (one level per choice)."""
    lr_levels: tuple[float, ...] = (5e-4, 2e-3)
    """Peak learning rates."""
    steps_levels: tuple[int, ...] = (50, 150, 400)
    """Optimizer steps of a round (cut short by the time left, see ``reserve_s``)."""
    batch_size: int = 32
    """Examples per optimizer step."""
    eval_limit: int = 50
    """Dev items scored by ``evaluate``."""
    reserve_s: float = 30.0
    """Seconds a training round leaves free for evaluating and submitting (its ``max_seconds``
    is the time left minus this and ``startup_s``)."""
    startup_s: float = 12.0
    """Seconds a training job spends starting (Python, torch, model load) before it trains."""
    min_train_s: float = 5.0
    """``train`` is masked when fewer seconds than this would be left for training."""
    min_compute_share: float = 0.05
    """On the compute budget, ``train`` is masked when less than this share of it is left."""
    data_seed: int | None = None
    """Seed of the generated data and of the training runs; ``None``: drawn per episode from the
    reset seed. A fixed seed makes equal recipes give equal weights, so the score cache answers
    repeated gradings (used by the tests)."""
    continue_training: bool = True
    """Continue from ``final_model/`` when a checkpoint exists; ``False``: every round trains
    from the base model."""

    def __post_init__(self) -> None:
        for name in ("data_levels", "lr_levels", "steps_levels"):
            levels = getattr(self, name)
            if isinstance(levels, (str, bytes)) or not isinstance(levels, (tuple, list)) or not levels:
                raise ValueError(
                    f"Expect {name} to be a non-empty tuple of numbers, actually got {levels!r}."
                )
            object.__setattr__(self, name, tuple(levels))
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in levels):
                raise ValueError(
                    f"Expect every entry of {name} to be a positive number, actually got {levels!r}."
                )
        for name in ("data_levels", "steps_levels"):
            if any(int(v) != v for v in getattr(self, name)):
                raise ValueError(f"Expect whole numbers in {name}, actually got {getattr(self, name)!r}.")
        if any(not 1e-7 <= v <= 1.0 for v in self.lr_levels):
            raise ValueError(f"Expect learning rates in [1e-7, 1], actually got {self.lr_levels!r}.")
        for name in ("batch_size", "eval_limit"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"Expect {name} to be a positive integer, actually got {getattr(self, name)!r}."
                )
        if self.data_seed is not None and (
            isinstance(self.data_seed, bool) or not isinstance(self.data_seed, int) or self.data_seed < 0
        ):
            raise ValueError(f"Expect data_seed None or an integer >= 0, actually got {self.data_seed!r}.")
        for name in ("reserve_s", "startup_s", "min_train_s"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"Expect {name} >= 0 seconds, actually got {getattr(self, name)!r}.")
        if not 0.0 <= self.min_compute_share < 1.0:
            raise ValueError(f"Expect min_compute_share in [0, 1), actually got {self.min_compute_share!r}.")


@dataclass(frozen=True)
class MacroAction:
    """One discrete action: a training round with its recipe, ``evaluate`` or ``submit``."""

    kind: Literal["train", "evaluate", "submit"]
    levels: tuple[int, int, int] = (-1, -1, -1)
    """Indices into data, learning-rate and steps levels (``train`` only)."""
    name: str = ""


class RecipeWrapper(gym.Wrapper[np.ndarray, np.int64, dict, dict | str]):
    """Discrete recipe choices over a ``PostTrainEnv`` (see the module docstring).

    Args:
        env: A ``PostTrainEnv``, possibly wrapped (its ``unwrapped`` must be one).
        config: Levels and sizing of the macro actions.
    """

    def __init__(self, env: gym.Env, config: RecipeConfig | None = None) -> None:
        super().__init__(env)
        inner = env.unwrapped
        if not isinstance(inner, PostTrainEnv):
            raise TypeError(f"Expect a PostTrainEnv to wrap, actually got {type(inner).__name__}.")
        if inner.task.benchmark not in list_benchmarks():
            raise ValueError(
                f"Task {inner.task.id!r} has benchmark {inner.task.benchmark!r}, which cannot generate "
                f"training data; the recipe wrapper needs one of {', '.join(list_benchmarks())}."
            )
        self.config = config or RecipeConfig()
        self.post_train_env = inner
        c = self.config
        self.actions: list[MacroAction] = [
            MacroAction("train", (d, lr, s), f"train(data={n}, lr={v:g}, steps={k})")
            for (d, n), (lr, v), (s, k) in itertools.product(
                enumerate(c.data_levels), enumerate(c.lr_levels), enumerate(c.steps_levels)
            )
        ]
        self.actions += [
            MacroAction("evaluate", name=f"evaluate(limit={c.eval_limit})"),
            MacroAction("submit", name="submit"),
        ]
        self.action_names = [a.name for a in self.actions]
        self.obs_names = OBS_NAMES
        self.action_space = spaces.Discrete(len(self.actions))
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(len(OBS_NAMES),), dtype=np.float32)
        self._inner_obs: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self._done = True

    # -- episode -------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the inner env; a new episode starts with no data, no checkpoint, no rounds."""
        inner: Any = self.env  # a PostTrain env (dict observations, tool-call actions)
        obs, info = inner.reset(seed=seed, options=options)
        self._inner_obs = obs
        drawn = int(self.np_random.integers(0, 2**31 - 1))
        self._data_seed = drawn if self.config.data_seed is None else self.config.data_seed
        self._generated: set[int] = set()
        self._rounds = 0
        self._last_levels: tuple[int, int, int] = (-1, -1, -1)
        self._last_train_ok = False
        self._last_invalid = False
        self._done = False
        mask = self.action_masks()
        return self._observe(), {**info, "action_mask": mask, "action_names": list(self.action_names)}

    def step(self, action: Any):
        """Run one macro action through the inner env's ``step``; see the module docstring."""
        if self._done:
            raise EpisodeNotRunning("The episode is not running: call reset() before step().")
        index = self._action_index(action)
        macro = self.actions[index]
        why = self._invalid_reason(macro)
        self._log: list[dict[str, str]] = []
        self._reward, self._info = 0.0, {}
        self._terminated = self._truncated = False
        self._last_invalid = why is not None
        extra: dict[str, Any] = {"macro": macro.name}
        if why is not None:
            extra["invalid_action"] = (
                f"{macro.name} is not available now: {why}. It ran nothing and cost one step."
            )
            self._inner({"tool": "job_status", "args": {}})
        elif macro.kind == "train":
            error = self._train(macro)
            if error:
                extra["macro_error"] = error
        elif macro.kind == "evaluate":
            self._inner({"tool": "evaluate", "args": {"limit": self.config.eval_limit}})
        else:
            self._inner({"tool": "submit", "args": {}})
        self._done = self._terminated or self._truncated
        info = {**self._info, **extra, "inner_steps": len(self._log), "inner": self._log}
        info["rounds"] = self._rounds
        info["action_mask"] = self.action_masks()
        return self._observe(), float(self._reward), self._terminated, self._truncated, info

    def action_masks(self) -> np.ndarray:
        """Which actions are valid now (bool array; ``submit`` always is)."""
        return np.array([self._invalid_reason(a) is None for a in self.actions], dtype=bool)

    # -- macro actions -------------------------------------------------------
    def _inner(self, call: dict[str, Any]) -> dict[str, Any]:
        """One inner step; accumulates reward and the end of the episode."""
        inner: Any = self.env  # a PostTrain env (dict observations, tool-call actions)
        obs, reward, terminated, truncated, info = inner.step(call)
        self._inner_obs, self._info = obs, info
        self._reward += float(reward)
        self._terminated |= terminated
        self._truncated |= truncated
        self._log.append({"tool": call["tool"], "error": obs["error"][:300], "output": obs["output"][-300:]})
        return {**info["result"], "text": obs["error"] or obs["output"], "output": obs["output"]}

    @property
    def _ended(self) -> bool:
        return self._terminated or self._truncated

    def _train(self, macro: MacroAction) -> str:
        """Data, ``train``, ``wait`` until the job ends; returns an error message or ""."""
        c, ws = self.config, self.post_train_env.workspace
        assert ws is not None
        d, lr, s = macro.levels
        n = int(c.data_levels[d])
        data = f"data/train_{n}.jsonl"
        self._rounds += 1
        self._last_levels, self._last_train_ok = macro.levels, False
        if n not in self._generated or not (ws.root / data).is_file():
            command = (
                f"python -m ptb_env.benchmarks.generate {self.post_train_env.task.benchmark} --n {n} "
                f"--seed {self._data_seed} --out {data}"
            )
            r = self._inner({"tool": "bash", "args": {"command": command}})
            if self._ended:
                return "the episode ended while generating data"
            if not r["ok"] or r["exit_code"] != 0:
                return f"generating data failed: {r['text'][-500:]}"
            self._generated.add(n)
        left = self._seconds_left()
        max_seconds = max(1.0, (left if math.isfinite(left) else 1e7) - c.reserve_s - c.startup_s)
        args: dict[str, Any] = {
            "data": data,
            "out": "final_model",
            "learning_rate": float(c.lr_levels[lr]),
            "max_steps": int(c.steps_levels[s]),
            "batch_size": c.batch_size,
            "seed": self._data_seed,
        }
        if not self._on_compute():  # on the compute budget the tool fits the steps to the TFLOP left
            args["max_seconds"] = max_seconds
        move = self._continues()
        if move:
            args.update(init="final_model", out=f"rounds/{self._rounds}")
        r = self._inner({"tool": "train", "args": args})
        if self._ended:
            return "the episode ended while starting training"
        if not r["ok"]:
            return f"train did not start: {r['text'][-500:]}"
        job_id = r["job"]["id"]
        for _ in range(MAX_WAITS):
            r = self._inner({"tool": "wait", "args": {"job_id": job_id}})
            if self._ended:
                return "the episode ended while training"
            if not r["ok"] or not r["jobs"]:
                return f"waiting for the training job failed: {r['text'][-500:]}"
            job = r["jobs"][0]
            if job["state"] != "running":
                break
        else:
            return f"the training job was still running after {MAX_WAITS} waits"
        if job["state"] != "exited" or job["exit_code"] != 0:
            return (
                f"the training job failed (job {job['id']}: {job['state']}, exit code {job['exit_code']}); "
                f"see its log {job['log']}"
            )
        if move:
            r = self._inner(
                {
                    "tool": "bash",
                    "args": {"command": f"rm -rf final_model && mv rounds/{self._rounds} final_model"},
                }
            )
            if self._ended:
                return "the episode ended while moving the checkpoint"
            if not r["ok"] or r["exit_code"] != 0:
                return f"moving the checkpoint to final_model failed: {r['text'][-500:]}"
        self._last_train_ok = True
        return ""

    def _continues(self) -> bool:
        return self.config.continue_training and self._has_checkpoint()

    # -- state ---------------------------------------------------------------
    def _budget(self, key: str) -> float:
        return float(self._inner_obs["budget"][key]) if self._inner_obs else 0.0

    def _seconds_left(self) -> float:
        return self._budget("seconds_left")

    def _on_compute(self) -> bool:
        """Whether the episode runs on the compute budget (``ptb_env.compute``)."""
        return self.post_train_env.limits.get("compute_tflop") is not None

    def _params(self) -> int:
        params = self.post_train_env.compute_params
        assert params is not None, "only on the compute budget"
        return params

    def _round_tflop(self) -> float:
        """The least TFLOP the ``train`` tool accepts a round with (``tools/train.py``): the job's
        start, :data:`MIN_ROUND_STEPS` steps of examples of :data:`ROUND_TOKENS` tokens, and the
        dev check of the task's ``dev_limit`` items it keeps back."""
        params = self._params()
        steps = MIN_ROUND_STEPS * train_step_tflop(params, self.config.batch_size, ROUND_TOKENS)
        return job_start_tflop() + steps + eval_tflop(params, self.post_train_env.task.dev_limit)

    def _has_checkpoint(self) -> bool:
        ws = self.post_train_env.workspace
        return ws is not None and ws.final_model.is_dir() and any(ws.final_model.glob("*.safetensors"))

    def _invalid_reason(self, macro: MacroAction) -> str | None:
        """Why ``macro`` makes no sense now, or ``None``."""
        if self._done:
            return None if macro.kind == "submit" else "the episode is over"
        if macro.kind == "submit":
            return None
        c = self.config
        if macro.kind == "evaluate":
            if self._budget("dev_evals_left") < 1:
                return "no dev evaluation is left"
            if not self._has_checkpoint():
                return "there is no checkpoint in final_model/ yet (train first)"
            if self._on_compute():
                left, cost = self._budget("compute_left"), eval_tflop(self._params(), c.eval_limit)
                if left < cost:
                    return f"{left:.3g} TFLOP are left and scoring {c.eval_limit} dev items costs {cost:.3g}"
            return None
        need = c.reserve_s + c.startup_s + c.min_train_s
        if self._on_compute():
            left = self._budget("compute_left")
            share = c.min_compute_share * self.post_train_env.limits["compute_tflop"]
            need_tflop = max(share, self._round_tflop())
            if left < need_tflop:
                return (
                    f"{left:.3g} TFLOP are left and a training round needs {need_tflop:.3g} (its start, "
                    f"{MIN_ROUND_STEPS} steps and the dev check the train tool keeps back)"
                )
        elif self._seconds_left() < need:
            return f"{self._seconds_left():.0f} s are left and a training round needs {need:.0f} s"
        if self._budget("steps_left") < 5:
            return "fewer than 5 steps are left (data, train, wait, submit)"
        return None

    def _action_index(self, action: Any) -> int:
        a = np.asarray(action)
        if a.size != 1 or not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise ValueError(
                f"Expect one integer action in [0, {len(self.actions) - 1}], actually got {action!r}."
            )
        index = int(a.reshape(-1)[0])
        if not 0 <= index < len(self.actions):
            raise ValueError(f"Expect an action in [0, {len(self.actions) - 1}], actually got {index}.")
        return index

    def _observe(self) -> np.ndarray:
        limits = self.post_train_env.limits
        time_key = ("compute_left", "compute_tflop") if self._on_compute() else ("seconds_left", "seconds")
        budget_keys = (time_key, ("steps_left", "steps"), ("dev_evals_left", "dev_evals"))
        fracs = []
        for key, limit_key in budget_keys:
            limit, left = limits[limit_key], self._budget(key)
            fracs.append(1.0 if limit is None or not math.isfinite(left) else left / max(limit, 1e-9))
        best = float(self._inner_obs["best_dev_score"])
        last = float(self._inner_obs["last_dev_score"])
        c = self.config
        sizes = (len(c.data_levels), len(c.lr_levels), len(c.steps_levels))
        levels = [
            -1.0 if i < 0 else (i / (k - 1) if k > 1 else 0.0)
            for i, k in zip(self._last_levels, sizes, strict=True)
        ]
        values = [
            *fracs,
            0.0 if math.isnan(last) else 1.0,
            -1.0 if math.isnan(best) else best,
            -1.0 if math.isnan(last) else last,
            float(self._has_checkpoint()),
            min(self._rounds, MAX_ROUNDS_OBS) / MAX_ROUNDS_OBS,
            float(self._last_train_ok),
            *levels,
            float(self._last_invalid),
        ]
        return np.clip(np.array(values, dtype=np.float32), -1.0, 1.0)


def task_levels(task: str) -> dict[str, tuple[float, ...]]:
    """The recipe levels a task defaults to: a short task's (sized to its budget), else none
    (the ``RecipeConfig`` defaults)."""
    from ptb_env.tasks.tiny import SHORT_RECIPE_LEVELS, SHORT_TASKS

    return dict(SHORT_RECIPE_LEVELS) if task in {t.id for t in SHORT_TASKS} else {}


def make_recipe_env(task: str = "tiny-arith", **kwargs: Any) -> RecipeWrapper:
    """``RecipeWrapper(PostTrainEnv(task, ...))``: the entry point of ``PostTrainRecipe-v0``.

    Keywords named like ``RecipeConfig`` fields (``data_levels``, ``lr_levels``,
    ``steps_levels``, ``eval_limit``, ...) configure the wrapper; the rest go to ``PostTrainEnv``.
    A short task (``tiny-arith-short``) defaults to levels sized to its budget
    (:data:`ptb_env.tasks.tiny.SHORT_RECIPE_LEVELS`).
    """
    names = {f.name for f in dataclasses.fields(RecipeConfig)}
    config = RecipeConfig(**{**task_levels(task), **{k: kwargs.pop(k) for k in list(kwargs) if k in names}})
    return RecipeWrapper(PostTrainEnv(task, **kwargs), config)


__all__ = ["OBS_NAMES", "MacroAction", "RecipeConfig", "RecipeWrapper", "make_recipe_env", "task_levels"]
