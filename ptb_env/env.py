"""PostTrainEnv: one post-training job as a Gymnasium episode.

The env composes the parts and decides little itself:

- task (``ptb_env.tasks``): base model, benchmark, budget, rules;
- workspace (``ptb_env.workspace``): the episode's directory, base model linked;
- sandbox (``ptb_env.sandbox``): the agent's isolated shell and background jobs;
- budget (``ptb_env.budget``): wall clock, steps, dev evaluations;
- tools (``ptb_env.tools``): what an action can do;
- grading (``ptb_env.grading``): the terminal reward on the hidden test split.

>>> import gymnasium as gym, ptb_env  # doctest: +SKIP
>>> env = gym.make("PostTrain-v0")  # doctest: +SKIP
>>> obs, info = env.reset(seed=0)  # doctest: +SKIP
>>> action = {"tool": "bash", "args": {"command": "ls"}}
>>> obs, reward, terminated, truncated, info = env.step(action)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import gymnasium as gym

from ptb_env.budget import Budget
from ptb_env.compute import WALL_CLOCK_FACTOR, ComputeMeter, count_parameters, describe
from ptb_env.cpus import available_cpus
from ptb_env.errors import EpisodeNotRunning, GraderError
from ptb_env.grading import Grade, Grader, ScoreCache
from ptb_env.integrity import IntegrityConfig
from ptb_env.observations import (
    Observation,
    build_observation,
    observation_space,
    valid_text_tree,
    workspace_summary,
)
from ptb_env.owner import track
from ptb_env.reclaim import reclaim_orphans
from ptb_env.resolve import resolve_task
from ptb_env.sandbox import Sandbox, SandboxConfig, SandboxKind, make_sandbox
from ptb_env.spaces import ToolCallSpace
from ptb_env.tasks import DEFAULT_TASK, TaskSpec, get_task
from ptb_env.tasks.card import render_task_card
from ptb_env.tools import DevScores, Tool, ToolContext, ToolResult, default_tools
from ptb_env.tools.runner import StepRecorder, ToolCall, ToolRunner
from ptb_env.tools.train import SNAPSHOT_DIR
from ptb_env.workspace import Workspace

RewardMode = Literal["uplift", "normalized"]
BudgetUnit = Literal["time", "compute"]
Action = Mapping[str, Any] | str | bytes
"""A tool call: ``{"tool": name, "args": {...}}``, or the same as a JSON string (bytes: UTF-8)."""
TRAJECTORY_STEPS = 1000
"""Steps kept in ``env.trajectory`` (the oldest are dropped)."""
TRAJECTORY_CHARS = 2000
"""Characters kept of each string of a step in ``env.trajectory``."""


_FORKED_WITH_TORCH = False
"""Whether this process was forked from one that had loaded torch (see ``_host_threads``)."""


def _note_fork() -> None:
    global _FORKED_WITH_TORCH
    _FORKED_WITH_TORCH = _FORKED_WITH_TORCH or "torch" in sys.modules


os.register_at_fork(after_in_child=_note_fork)


def default_workspace_root() -> Path:
    """Where workspaces go by default: ``$PTB_ENV_WORKSPACES`` or ``<tmp>/ptb_env-<uid>``."""
    env = os.environ.get("PTB_ENV_WORKSPACES")
    return Path(env) if env else Path(tempfile.gettempdir()) / f"ptb_env-{os.getuid()}"


class PostTrainEnv(gym.Env[Observation, Action]):
    """Post-train a base model for a benchmark; reward = test-score uplift of ``final_model/``.

    Args:
        task: Task id (see ``ptb_env.tasks.list_tasks()``) or a ``TaskSpec``.
        time_limit_s: Wall-clock budget (default: the task's); on the compute budget, the safety
            limit is ``ptb_env.compute.WALL_CLOCK_FACTOR`` times it.
        budget: ``"time"`` (the default: wall-clock seconds, as in PostTrainBench) or
            ``"compute"``: TFLOP charged by the tools and for the agent's CPU time, so that the
            same policy earns the same reward on any machine and load (:mod:`ptb_env.compute`).
        compute_tflop: The compute budget (default: the task's ``compute_tflop``).
        max_steps: Steps per episode (default: the task's).
        max_dev_evals: ``evaluate`` calls per episode (default: the task's).
        test_limit: Grade on the first ``test_limit`` hidden test items only (default: the
            task's, ``None``: all). Cheaper, noisier rewards, for smoke runs and RL debugging.
        sandbox: ``"bwrap"`` (isolated, the default) or ``"none"`` (trusted local use only).
        sandbox_config: Limits and isolation of the agent's sandbox (default: the task's network
            and memory settings, the rest ``SandboxConfig``'s defaults). Its ``cpus`` also sizes
            torch's thread pool while this process scores models (base, dev, grading).
        workspace_root: Parent directory of the workspaces.
        keep_workspace: Keep each episode's workspace on disk after it ends (also after this
            process dies: ``ptb_env.reclaim`` never takes it).
        score_cache_dir: Directory of the score cache (default ``<cache>/scores``).
        reward_mode: ``"uplift"`` (score - base) or ``"normalized"`` (uplift / (1 - base)).
        dev_shaping: Weight of potential-based shaping from the best dev score (0: off).
            Per step it adds ``w * (best_after - best_before)``; the last step subtracts
            ``w * best``, so shaping sums to zero over an episode and leaves optimal
            policies unchanged.
        on_grader_error: ``"raise"`` a ``GraderError`` (default) or ``"report"`` it as
            ``info["status"] = "infra_error"`` with reward 0.
        integrity: Integrity checks at grading (contamination, lineage, optional judge) and
            the penalty of a disqualification (default: all exact checks on, penalty 0).
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns the last observation as text).
        progress: Show progress bars while grading.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        task: str | TaskSpec = DEFAULT_TASK,
        *,
        time_limit_s: float | None = None,
        budget: BudgetUnit = "time",
        compute_tflop: float | None = None,
        max_steps: int | None = None,
        max_dev_evals: int | None = None,
        test_limit: int | None = None,
        sandbox: SandboxKind = "bwrap",
        sandbox_config: SandboxConfig | None = None,
        workspace_root: str | os.PathLike[str] | None = None,
        keep_workspace: bool = False,
        score_cache_dir: str | os.PathLike[str] | None = None,
        reward_mode: RewardMode = "uplift",
        dev_shaping: float = 0.0,
        on_grader_error: Literal["raise", "report"] = "raise",
        integrity: IntegrityConfig | None = None,
        render_mode: str | None = None,
        progress: bool = False,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"Expect render_mode None or 'ansi', actually got {render_mode!r}.")
        if reward_mode not in ("uplift", "normalized"):
            raise ValueError(f"Expect reward_mode 'uplift' or 'normalized', actually got {reward_mode!r}.")
        if on_grader_error not in ("raise", "report"):
            raise ValueError(f"Expect on_grader_error 'raise' or 'report', actually got {on_grader_error!r}.")
        if budget not in ("time", "compute"):
            raise ValueError(f"Expect budget 'time' or 'compute', actually got {budget!r}.")
        if compute_tflop is not None and budget != "compute":
            raise ValueError('compute_tflop sets the compute budget: pass budget="compute" too.')
        given: dict[str, Any] = {
            "time_limit_s": time_limit_s, "max_steps": max_steps, "max_dev_evals": max_dev_evals,
            "test_limit": test_limit, "compute_tflop": compute_tflop,
        }  # fmt: skip
        self.task = dataclasses.replace(get_task(task), **{k: v for k, v in given.items() if v is not None})
        """The task as this env runs it: the registered one with the budget and limits given here
        (the task card, the grader and ``limits`` all read the effective values)."""
        self.budget_unit: BudgetUnit = budget
        if budget == "compute":
            if self.task.compute_tflop is None:
                raise ValueError(
                    f"Task {self.task.id!r} has no compute budget (compute_tflop); pass compute_tflop=..."
                )
            if self.task.time_limit_s is not None:
                safety = self.task.time_limit_s * WALL_CLOCK_FACTOR
                self.task = dataclasses.replace(self.task, time_limit_s=safety)
        self.limits: dict[str, Any] = {
            "seconds": self.task.time_limit_s,
            "steps": self.task.max_steps,
            "dev_evals": self.task.max_dev_evals,
            "compute_tflop": self.task.compute_tflop if budget == "compute" else None,
        }
        self.sandbox_kind: SandboxKind = sandbox
        self.sandbox_config = sandbox_config
        self.workspace_root = Path(workspace_root) if workspace_root else default_workspace_root()
        self.keep_workspace = keep_workspace
        self.reward_mode, self.dev_shaping, self.on_grader_error = reward_mode, dev_shaping, on_grader_error
        self.render_mode = render_mode
        self.resolved = resolve_task(self.task)
        """The task's base model directory, benchmark and backend, looked up once (env and grader)."""
        if self.task.dev_split not in self.resolved.benchmark.splits:
            raise ValueError(
                f"Task {self.task.id!r} scores dev on {self.task.dev_split!r}, a split its benchmark "
                f"{self.task.benchmark!r} does not have (splits: {', '.join(self.resolved.benchmark.splits)})"
                "."
            )
        self.score_cache = ScoreCache(Path(score_cache_dir) if score_cache_dir else None)
        """The score cache (masked in the sandbox)."""
        self.integrity = integrity or IntegrityConfig()
        """The integrity checks at grading and the penalty of a disqualification."""
        self.grader = Grader(self.resolved, self.score_cache, progress=progress, integrity=self.integrity)
        self.tools: dict[str, Tool] = default_tools()
        self.runner = ToolRunner(self.tools)
        self.action_space = ToolCallSpace(
            self.runner.schemas,
            {name: t.sample_args for name, t in self.tools.items()},
            weights={name: t.sample_weight for name, t in self.tools.items()},
        )
        self.observation_space = cast("gym.spaces.Space[Observation]", observation_space())
        on_compute = budget == "compute"
        self.compute_params: int | None = count_parameters(self.resolved.base_dir) if on_compute else None
        """Parameters of the base model (what the compute budget charges by), on that budget only."""
        self.task_card = render_task_card(self.task, self.tools, compute_params=self.compute_params)
        self._workspace: Workspace | None = None
        self._sandbox: Sandbox | None = None
        self._ctx: ToolContext | None = None
        self._done = True
        self._last_obs: Observation | None = None
        self._steps = StepRecorder(chars=TRAJECTORY_CHARS, keep=TRAJECTORY_STEPS)
        self.last_call: ToolCall | None = None
        """The last step's tool call (action, tool, validated args, result), ``None`` before one."""
        self._tool_texts: list[tuple[str, str]] = []
        """(name, text) of every string argument of every valid tool call, whole (contamination scan)."""
        self._base_score = math.nan
        track(self)  # closed at interpreter exit; what a killed process leaves, the next start reclaims
        reclaim_orphans(self.workspace_root)

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """The tools in the OpenAI function-calling format (pass them to a chat API as ``tools``)."""
        return [t.openai_schema() for t in self.tools.values()]

    @property
    def workspace(self) -> Workspace | None:
        """The current episode's workspace (``None`` between episodes)."""
        return self._workspace

    def _dev_splits(self) -> tuple[str, ...]:
        """The splits ``evaluate`` may score: the task's ``dev_split`` first, then the benchmark's
        other dev splits (none when the task scores dev on test)."""
        default = self.task.dev_split
        if default == "test":
            return (default,)
        others = [s for s in ("dev-shift", "dev") if s != default and s in self.resolved.benchmark.splits]
        return (default, *others)

    def _visible_files(self) -> dict[str, Path | bytes]:
        """``data/`` of a new workspace: the dev split (unless the task scores dev on test) and the
        chat template that evaluation forces."""
        files: dict[str, Path | bytes] = {}
        for split in self._dev_splits():
            dev = self.resolved.benchmark.public_split(split)
            if dev is not None and split != "test":
                files[f"{self.task.benchmark}-{split}.jsonl"] = dev
        if self.task.chat_template:
            files["chat_template.jinja"] = Path(self.task.chat_template)
        return files

    # -- episode -------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode: fresh workspace and sandbox, full budget.

        ``info`` holds ``task_card``, ``tool_schemas``, ``base_score``, ``task``, ``benchmark``,
        ``episode_id`` and ``workspace`` (the host path); on the compute budget also ``compute``
        (``ptb_env.compute.describe``).
        """
        super().reset(seed=seed)
        self._teardown()
        reclaim_orphans(self.workspace_root)
        with self._host_threads():
            self._base_score = self.grader.base_score("test", self.task.test_limit)
        self._workspace = Workspace.create(
            self.workspace_root,
            self.resolved.base_dir,
            task_card=self.task_card,
            visible_files=self._visible_files(),
        )
        if self.keep_workspace:  # kept for the user, even past this process: never reclaimed
            self._workspace.owner_file.unlink(missing_ok=True)
        budget = Budget.from_limits(**self.limits)
        try:
            base = self.sandbox_config or self.task.sandbox_config()
            config = dataclasses.replace(base, masked_paths=(*base.masked_paths, self.score_cache.root))
            self._sandbox = make_sandbox(
                self._workspace, self.sandbox_kind, config, time_left=budget.remaining_seconds, start=False
            )
            card = render_task_card(
                self.task, self.tools, self._sandbox.paths.workspace, compute_params=self.compute_params
            )
            if card != self.task_card:  # unsandboxed, the card names this episode's host workspace
                self.task_card = card
                self._workspace.task_card_path.write_text(card, encoding="utf-8")
            self._sandbox.start()
        except BaseException:
            self._teardown()
            raise
        workspace = self._workspace

        def score_dev(rel: str, limit: int, split: str) -> tuple[float, int, float]:
            with self._host_threads():
                value, _ = self.grader.score_workspace(workspace, rel, split, limit)
            return float(value["score"]), int(value["n"]), float(value["seconds"])

        meter = None
        if self.compute_params is not None:
            meter = ComputeMeter(budget.compute, self._sandbox, self.compute_params, self.resolved.base_dir)
            meter.start()
        budget.reset()
        self._steps.clear()
        self.last_call = None
        self._tool_texts = []
        self._ctx = ToolContext(
            self.task, self._workspace, self._sandbox, budget, score_dev, DevScores(), self._dev_splits(),
            meter,
        )  # fmt: skip
        self._workspace.write_budget(budget)
        self._done = False
        obs = self._observe(ToolResult(output="Read TASK.md (also in info['task_card']) and begin."))
        info = {
            "task": self.task.id,
            "benchmark": self.task.benchmark,
            "task_card": self.task_card,
            "tool_schemas": self.tool_schemas,
            "base_score": self._base_score,
            "episode_id": self._workspace.root.name,
            "workspace": str(self._workspace.root),
        }
        if self.compute_params is not None and self.task.compute_tflop is not None:
            info["compute"] = describe(self.compute_params, self.task.compute_tflop)
        return obs, valid_text_tree(info)

    def step(self, action: Action) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Run one tool call; the last step (``submit`` or budget out) is graded."""
        ctx = self._ctx
        if ctx is None or self._done:
            raise EpisodeNotRunning("The episode is not running: call reset() before step().")
        budget, best_before = ctx.budget, ctx.dev.best
        if budget.exhausted():
            error = "The budget ran out before this action; it was not run."
            call = ToolCall(action, None, {}, ToolResult(error=error))
        else:
            budget.charge_step()
            call = self.runner.call(action, ctx)
            if ctx.compute is not None:
                ctx.compute.sample()  # the agent's own processes' CPU time
            self._tool_texts += call.texts(f"step {budget.counters['steps'].used()}")
        result = call.result
        info: dict[str, Any] = {"tool": call.tool, "result": call.info()}
        ctx.workspace.write_budget(budget)
        self.last_call = call
        self._steps.record(call)
        terminated = result.submit
        truncated = not terminated and budget.exhausted()
        reward = self._shaping(best_before, ctx.dev.best)
        if terminated or truncated:
            self._done = True
            budget.stop()  # grading is not charged: the time left stays what it was at the end
            if truncated:
                info["truncated_by"] = budget.exhausted_ledgers()
            reward += self._finish(info, ctx)
        obs = self._observe(result, ctx)
        return obs, float(reward), terminated, truncated, valid_text_tree(info)

    @property
    def trajectory(self) -> list[dict[str, Any]]:
        """The episode's last steps (``StepRecorder`` records: step, tool, action, args, output,
        error, result), each string cut short."""
        return list(self._steps.steps)

    def _shaping(self, before: float, after: float) -> float:
        if not self.dev_shaping:
            return 0.0
        before, after = (0.0 if math.isnan(x) else x for x in (before, after))
        return self.dev_shaping * (after - before)

    def _finish(self, info: dict[str, Any], ctx: ToolContext) -> float:
        """Grade the episode into ``info``; returns the terminal reward."""
        shaping_out = -self.dev_shaping * (0.0 if math.isnan(ctx.dev.best) else ctx.dev.best)
        try:
            with self._host_threads(), tempfile.TemporaryDirectory(prefix="ptb-scratch-") as scratch:
                # the sandbox's /tmp and /dev/shm die with it: copied (safely) for the scan first
                ctx.sandbox.export_scratch(Path(scratch), 2 * (ctx.sandbox.config.tmp_size_mb << 20))
                grade = self.grader.grade(
                    ctx.workspace,
                    ctx.sandbox.close,
                    scan_paths=[Path(scratch)],
                    snapshot_paths=[ctx.workspace.control_dir / SNAPSHOT_DIR],
                    tool_texts=self._tool_texts,
                    trajectory=self._steps.steps,
                )
        except GraderError as err:
            if self.on_grader_error == "raise":
                raise
            info.update(status="infra_error", reason=str(err), reward=0.0, integrity={})
            return 0.0
        info.update(self._grade_info(grade))
        reward = grade.reward
        if self.reward_mode == "normalized" and grade.status == "ok" and grade.base_score < 1.0:
            reward = grade.reward / (1.0 - grade.base_score)
        return reward + shaping_out

    @contextlib.contextmanager
    def _host_threads(self) -> Iterator[None]:
        """Size torch's threads while this process scores a model.

        Forked from a process that had loaded torch (``AsyncVectorEnv``'s default ``fork``
        context under a torch-using parent): 1 thread, for good, since GNU OpenMP deadlocks
        in a forked child's first multi-threaded region. Else ``ceil(sandbox_config.cpus)``
        threads when that is set, else torch's own setting bounded by the CPUs this process may
        use (``ptb_env.cpus.available_cpus``: affinity and cgroup quota); restored after.
        """
        cpus = self.sandbox_config.cpus if self.sandbox_config is not None else None
        if not _FORKED_WITH_TORCH and cpus is None and available_cpus() >= (os.cpu_count() or 1):
            yield  # nothing bounds this process's CPUs: torch's own setting, torch not imported here
            return
        import torch

        before = torch.get_num_threads()
        if _FORKED_WITH_TORCH:
            threads = 1
        elif cpus is not None:
            threads = max(1, math.ceil(cpus))
        else:
            threads = min(before, available_cpus())
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            if not _FORKED_WITH_TORCH:
                torch.set_num_threads(before)

    @staticmethod
    def _grade_info(grade: Grade) -> dict[str, Any]:
        return {
            "status": grade.status,
            "score": grade.score,
            "base_score": grade.base_score,
            "uplift": grade.reward,
            "reason": grade.reason,
            "grade": grade.to_info(),
            "integrity": grade.integrity,
        }

    def _observe(self, result: ToolResult, ctx: ToolContext | None = None) -> Observation:
        ctx = ctx or self._ctx
        assert ctx is not None
        if self._done or self._ctx is not ctx:  # over, or closed by another thread meanwhile
            jobs = "stopped (episode over)"
        else:
            try:
                jobs = ctx.sandbox.jobs.render()
            except Exception as err:  # noqa: BLE001 - a broken shell must not crash the step
                jobs = f"(job states unavailable: {type(err).__name__}; the shell restarts at the next call)"
        ws = ctx.workspace
        summary = workspace_summary(ws.root, ws.layout.final_model, jobs, ctx.paths.workspace)
        obs = build_observation(
            result.output, summary, ctx.budget.left(), ctx.dev.best, ctx.dev.last, result.error
        )
        self._last_obs = obs
        return obs

    def render(self) -> str | None:
        """The last observation as text (``render_mode="ansi"``)."""
        if self.render_mode != "ansi" or self._last_obs is None:
            return None
        o = self._last_obs
        budget = ", ".join(f"{k}={float(v):g}" for k, v in o["budget"].items())
        return (
            f"{o['output']}\n--- workspace ---\n{o['workspace']}\n--- budget: {budget}; dev best "
            f"{float(o['best_dev_score']):.4f}, last {float(o['last_dev_score']):.4f}"
            + (f"\n--- error: {o['error']}" if o["error"] else "")
        )

    def close(self) -> None:
        """Kill every process of the episode and remove its workspace (idempotent)."""
        self._teardown()
        super().close()

    def _teardown(self) -> None:
        if self._ctx is not None and self._ctx.compute is not None:
            self._ctx.compute.close()
        sandbox, workspace = self._sandbox, self._workspace
        self._sandbox = self._workspace = self._ctx = None
        self._done = True
        if sandbox is not None:
            sandbox.close()
        if workspace is not None and not self.keep_workspace:
            workspace.remove()

    def __del__(self) -> None:
        try:
            self._teardown()
        except Exception:  # noqa: BLE001 - interpreter shutdown: best effort
            pass
