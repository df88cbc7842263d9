"""Many episodes at once on a Ray cluster: one actor per episode, results in spec order.

An :class:`EpisodeSpec` names an agent, a task and a seed (plus agent and env keywords).
:func:`run_episodes` runs each spec in its own Ray actor, which holds the episode's CPUs
and GPUs for as long as it runs; :func:`run_serial` runs the same specs one after another
in this process and returns the same rows, for comparison and for machines without Ray.
Ray is the optional extra ``ray`` (``pip install "ptb-env[ray]"``); with ``address=None``
the runner starts a local Ray instance, with ``"auto"`` or ``"ray://head:10001"`` it joins
a cluster (see ``docs/scale.md``).

Each result is a dict with the fields of ``ptb_env.rollout.EpisodeResult`` (but ``info``) plus
where and how the episode ran; an episode that fails (an exception in the env or the agent,
a dead actor) comes back with status ``infra_error`` and the error, and the batch goes on.

>>> from ptb_env.distributed import EpisodeSpec, run_episodes  # doctest: +SKIP
>>> specs = [EpisodeSpec("scripted-sft", "tiny-arith", seed) for seed in range(4)]  # doctest: +SKIP
>>> [r["reward"] for r in run_episodes(specs, num_cpus_per_episode=1)]  # doctest: +SKIP
[0.054, 0.061, 0.049, 0.07]
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptb_env.errors import PtbEnvError
from ptb_env.registry import agent_factory
from ptb_env.rollout import OUTCOME_FIELDS, EpisodeResult, run_episode
from ptb_env.tasks import get_task

if TYPE_CHECKING:
    from ptb_env.sandbox import SandboxConfig

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Thread-pool variables an episode's actor sets to its CPU count before torch loads."""
RUN_FIELDS = ("error", "trajectory", "node", "pid", "gpu_ids", "started_at", "ended_at")
"""What a result row adds to the episode's record: the runner's error and where and when it ran."""
RESULT_FIELDS = ("index", *OUTCOME_FIELDS, *RUN_FIELDS)
"""Keys of every result row, in this order."""


class RayUnavailable(PtbEnvError, ImportError):
    """Ray is not installed; the message names the install command."""


def is_ray_available() -> bool:
    """Whether Ray is installed (found on the path, not imported)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run: which agent, on which task, with which seed.

    Task and agent names are checked when the spec is made, so a typo fails here and not
    in a remote actor.

    >>> EpisodeSpec("noop", "tiny-arith", 3).seed
    3
    """

    agent: str | Callable[..., Any]
    """A registered agent's name (``ptb_env.registry.list_agents()``), or a factory
    ``f(env, **agent_kwargs) -> agent`` (it must pickle to reach a Ray worker: a module-level
    function or class). A Ray worker resolves a name in its own process, so it knows the agents
    of the ``ptb_env.agents`` entry points (the baselines among them), not those registered in
    code on the driver: pass such an agent's factory instead."""
    task: str = "tiny-arith"
    """Task id (``ptb-env list``)."""
    seed: int | None = 0
    """Seed of ``env.reset`` and of the agent."""
    time_limit_s: float | None = None
    """Wall-clock budget of the episode (default: the task's)."""
    agent_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Keywords of the agent's factory, e.g. ``{"args": ScriptedSFTArgs(max_steps=40)}``."""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Keywords of ``gym.make("PostTrain-v0", ...)`` (``sandbox``, ``max_steps``, ``score_cache_dir``,
    ``sandbox_config``, ...); ``task`` and ``time_limit_s`` come from the fields above."""

    def __post_init__(self) -> None:
        get_task(self.task)  # TaskNotFound, with the closest name
        if isinstance(self.agent, str):
            agent_factory(self.agent)  # AgentNotFound, with the closest name
        elif not callable(self.agent):
            raise TypeError(
                f"Expect `agent` to be a name or a factory f(env) -> agent, actually: {self.agent!r}"
            )
        clash = {"task", "time_limit_s"} & set(self.env_kwargs)
        if clash:
            raise ValueError(f"Pass {', '.join(sorted(clash))} as the spec's own field, not in env_kwargs.")
        object.__setattr__(self, "agent_kwargs", dict(self.agent_kwargs))
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))

    @property
    def agent_name(self) -> str:
        """The agent's name, or the factory's ``__name__``."""
        return self.agent if isinstance(self.agent, str) else getattr(self.agent, "__name__", "agent")


def grid(
    agents: Iterable[str], tasks: Iterable[str], seeds: Iterable[int], **fields: Any
) -> list[EpisodeSpec]:
    """Every (agent, task, seed) combination as specs, the seeds varying fastest.

    >>> [(s.agent, s.seed) for s in grid(["noop", "random"], ["tiny-arith"], [0, 1])]
    [('noop', 0), ('noop', 1), ('random', 0), ('random', 1)]
    """
    seeds, tasks = list(seeds), list(tasks)
    return [EpisodeSpec(a, t, s, **fields) for a in agents for t in tasks for s in seeds]


def sandbox_config_for(
    spec: EpisodeSpec, num_cpus: float | None, num_gpus: float = 0
) -> SandboxConfig | None:
    """The sandbox an episode gets: the spec's (or the task's default) with its CPUs and GPUs.

    ``num_cpus`` becomes the sandbox's CPU quota (and the thread count of its training jobs
    and of the env's scoring) unless the spec's ``sandbox_config`` sets ``cpus``; with GPUs,
    the sandbox sees the GPU devices and inherits ``CUDA_VISIBLE_DEVICES`` (the GPUs Ray gave
    the actor). ``None`` when there is nothing to set (the env's default applies).
    """

    config = spec.env_kwargs.get("sandbox_config")
    if num_cpus is None and not num_gpus:
        return config
    if config is None:  # the env's default, from the task (PostTrainEnv.reset)
        config = get_task(spec.task).sandbox_config()
    changes: dict[str, Any] = {}
    if num_cpus is not None and config.cpus is None:
        changes["cpus"] = float(num_cpus)
    if num_gpus:
        changes["gpu"] = True
        if "CUDA_VISIBLE_DEVICES" not in config.pass_env:
            changes["pass_env"] = (*config.pass_env, "CUDA_VISIBLE_DEVICES")
    return dataclasses.replace(config, **changes) if changes else config


def _row(spec: EpisodeSpec, index: int, result: EpisodeResult | None = None, **values: Any) -> dict[str, Any]:
    """A result row: ``index``, the episode's record (an ``infra_error`` one if none) and ``values``."""
    if result is None:
        result = EpisodeResult(
            agent=spec.agent_name, task=spec.task, seed=spec.seed, status="infra_error", reward=0.0
        )
    row = dict.fromkeys(RESULT_FIELDS)
    row.update(
        index=index, **result.to_dict(), error="", node=socket.gethostname(), pid=os.getpid(), gpu_ids=[]
    )
    row.update(values)
    return row


def infra_error_row(
    spec: EpisodeSpec, index: int, error: BaseException | str, **values: Any
) -> dict[str, Any]:
    """The result of an episode that could not run to its end: status ``infra_error``, reward 0."""
    if isinstance(error, BaseException):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__)).strip()
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    else:
        text = reason = str(error)
    return _row(spec, index, error=text, reason=reason, **values)


def run_one(
    spec: EpisodeSpec,
    index: int = 0,
    *,
    num_cpus: float | None = None,
    num_gpus: float = 0,
    gpu_ids: Sequence[Any] = (),
    record: bool = False,
) -> dict[str, Any]:
    """Run one episode here and return its result row (never raises for the episode's failures).

    With ``record``, the row's ``trajectory_text`` holds the episode's JSONL trajectory
    (``ptb_env.wrappers.record.RecordTrajectory``), or ``None`` where that wrapper is absent.
    """
    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers the envs

    started = time.time()
    env, tmp, trajectory_path = None, None, None
    recorder: Any = None
    extra: dict[str, Any] = {"gpu_ids": list(gpu_ids), "started_at": started}
    try:
        kwargs = dict(spec.env_kwargs)
        config = sandbox_config_for(spec, num_cpus, num_gpus)
        if config is not None:
            kwargs["sandbox_config"] = config
        if spec.time_limit_s is not None:
            kwargs["time_limit_s"] = spec.time_limit_s
        env = gym.make("PostTrain-v0", task=spec.task, **kwargs)
        if record:
            try:
                from ptb_env.wrappers.record import RecordTrajectory
            except ImportError:
                extra["trajectory_text"] = None
            else:
                tmp = tempfile.mkdtemp(prefix="ptb-trajectory-")
                recorder = RecordTrajectory(env, tmp, agent=spec.agent_name)
                env = recorder
        factory = agent_factory(spec.agent) if isinstance(spec.agent, str) else spec.agent
        agent = factory(env, **spec.agent_kwargs)
        assert env is not None
        r = run_episode(env, agent, seed=spec.seed)
        # r.checkpoint: the grader's fingerprint of its own copy (the host never reads the agent's files)
        if recorder is not None:
            trajectory_path = recorder.path
        row = _row(spec, index, r, error=r.reason if r.status == "infra_error" else "", **extra)
    except Exception as err:  # noqa: BLE001 - one episode's failure is its result, not the batch's
        row = infra_error_row(spec, index, err, **extra)
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - the episode's result stands; cleanup is best effort
                pass
    if tmp is not None:
        path = Path(trajectory_path) if trajectory_path else None
        row["trajectory_text"] = path.read_text(encoding="utf-8") if path and path.is_file() else None
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    row["ended_at"] = time.time()
    return row


def _store_trajectory(row: dict[str, Any], directory: Path | None) -> None:
    """Write the row's trajectory text into ``directory``; ``row["trajectory"]`` becomes its path."""
    text = row.pop("trajectory_text", None)
    if directory is None or text is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    name = re.sub(
        r"[^A-Za-z0-9_.-]+", "_", f"{row['index']:04d}-{row['agent']}-{row['task']}-seed{row['seed']}"
    )
    path = directory / f"{name}.jsonl"
    path.write_text(text, encoding="utf-8")
    row["trajectory"] = str(path)


def _bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="episode", disable=None if progress else True)


def _outcome(row: dict[str, Any]) -> str:
    return f"last: {row['agent']} seed={row['seed']} {row['status']} {row['reward']:+.4f}"


def run_serial(
    specs: Sequence[EpisodeSpec],
    *,
    num_cpus_per_episode: float | None = None,
    trajectories_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run the specs one after another in this process; same rows as :func:`run_episodes`.

    Args:
        specs: The episodes.
        num_cpus_per_episode: CPU quota of each episode's sandbox (as ``run_episodes`` gives
            it); ``None``: the env's default (no quota, torch's own thread count).
        trajectories_dir: Write each episode's trajectory here (needs ``RecordTrajectory``).
        progress: Show a progress bar over the episodes (on a terminal).
    """
    directory = Path(trajectories_dir) if trajectories_dir is not None else None
    rows = []
    with _bar(len(specs), progress, "episodes (serial)") as bar:
        for i, spec in enumerate(specs):
            row = run_one(spec, i, num_cpus=num_cpus_per_episode, record=directory is not None)
            _store_trajectory(row, directory)
            rows.append(row)
            bar.set_postfix_str(_outcome(row), refresh=False)
            bar.update(1)
    return rows


def _episode_actor():
    """The Ray actor class that runs one episode (made on first use: Ray is imported lazily)."""
    import ray

    @ray.remote(max_restarts=0, max_task_retries=0)
    class EpisodeActor:
        """Holds one episode's resources; thread pools sized to its CPUs before torch loads."""

        def __init__(self, threads: int) -> None:
            for var in THREAD_VARS:
                os.environ[var] = str(threads)

        def run(self, spec: EpisodeSpec, index: int, num_cpus: float, num_gpus: float, record: bool):
            return run_one(
                spec, index, num_cpus=num_cpus, num_gpus=num_gpus, gpu_ids=ray.get_gpu_ids(), record=record
            )

    return EpisodeActor


def _fitting(num_cpus: float, num_gpus: float) -> int:
    """Episodes that the cluster's resources hold now.

    Raises:
        PtbEnvError: Not even one episode fits (its actor would wait forever).
    """
    import ray

    total = ray.cluster_resources()
    have = {"CPU": total.get("CPU", 0.0), "GPU": total.get("GPU", 0.0)}
    need = {"CPU": num_cpus, "GPU": num_gpus}
    fits = min(math.floor(have[k] / need[k] + 1e-9) for k in need if need[k])
    if fits < 1:
        raise PtbEnvError(
            f"One episode needs {num_cpus:g} CPUs and {num_gpus:g} GPUs, but the Ray cluster has "
            f"{have['CPU']:g} CPUs and {have['GPU']:g} GPUs: ask for less per episode, add nodes, or "
            "pass max_concurrency (an autoscaling cluster then grows to fit)."
        )
    return fits


def run_episodes(
    specs: Sequence[EpisodeSpec],
    *,
    num_cpus_per_episode: float = 1,
    num_gpus_per_episode: float = 0,
    max_concurrency: int | None = None,
    address: str | None = None,
    trajectories_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    init_kwargs: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run the specs on Ray, one actor per episode; the result rows come back in spec order.

    Args:
        specs: The episodes.
        num_cpus_per_episode: CPUs each episode's actor holds; also its sandbox's CPU quota and
            the thread count of its training jobs and scoring.
        num_gpus_per_episode: GPUs each actor holds (Ray sets ``CUDA_VISIBLE_DEVICES``; the
            sandbox sees those GPUs). Fractions share a GPU.
        max_concurrency: Episodes in flight at once; ``None``: as many as the cluster's CPUs
            and GPUs hold when the run starts (pass a number for an autoscaling cluster).
        address: ``None`` starts a local Ray instance; ``"auto"`` joins the cluster this
            machine belongs to (``ray start``); ``"ray://host:10001"`` a remote one (Ray
            Client). Ignored when Ray is already initialised in this process.
        trajectories_dir: Write each episode's JSONL trajectory here, on this machine
            (the actors send it back; needs ``ptb_env.wrappers.record``).
        progress: Show a progress bar over finished episodes (on a terminal).
        init_kwargs: More keywords of ``ray.init`` (``num_cpus`` of a local instance,
            ``runtime_env``, ``include_dashboard``, ...).

    Raises:
        RayUnavailable: Ray is not installed.
    """
    if not is_ray_available():
        raise RayUnavailable(
            'Ray is not installed: pip install "ptb-env[ray]" (or run_serial for one machine).'
        )
    import ray

    if num_cpus_per_episode <= 0 or num_gpus_per_episode < 0 or (max_concurrency or 1) < 1:
        raise ValueError(
            "Expect num_cpus_per_episode > 0, num_gpus_per_episode >= 0 and max_concurrency >= 1 or None, "
            f"actually: {num_cpus_per_episode}, {num_gpus_per_episode}, {max_concurrency}"
        )
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=address or "local", **dict(init_kwargs or {}))
    directory = Path(trajectories_dir) if trajectories_dir is not None else None
    threads = max(1, math.ceil(num_cpus_per_episode))
    queue = deque(enumerate(specs))
    pending: dict[Any, tuple[int, Any]] = {}
    rows: list[dict[str, Any] | None] = [None] * len(specs)
    try:
        limit = max_concurrency or _fitting(num_cpus_per_episode, num_gpus_per_episode)
        actor_class = _episode_actor()
        with _bar(len(specs), progress, "episodes") as bar:
            last = ""
            while queue or pending:
                while queue and len(pending) < limit:
                    i, spec = queue.popleft()
                    actor = actor_class.options(num_cpus=num_cpus_per_episode, num_gpus=num_gpus_per_episode)
                    handle = actor.remote(threads)
                    ref = handle.run.remote(
                        spec, i, num_cpus_per_episode, num_gpus_per_episode, directory is not None
                    )
                    pending[ref] = (i, handle)
                bar.set_postfix_str(f"running {len(pending)}" + (f"; {last}" if last else ""))
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i, handle = pending.pop(ref)
                    try:
                        row = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - a dead actor or a Ray failure: this episode's
                        row = infra_error_row(specs[i], i, err, node="", pid=None)
                    ray.kill(handle)
                    _store_trajectory(row, directory)
                    rows[i], last = row, _outcome(row)
                    bar.update(1)
    finally:
        for _, handle in pending.values():  # interrupted: stop the episodes still running
            ray.kill(handle)
        if started_ray:
            ray.shutdown()
    return [r for r in rows if r is not None]
