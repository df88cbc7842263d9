"""``RemotePostTrainEnv``: a PostTrain-v0 episode run by a ``ptb-env serve`` server, as a ``gym.Env``.

The trainer keeps the Gymnasium API; the episode (workspace, sandbox, training, grading) runs
in the server's process, possibly on another machine. The spaces are the local env's, built the
same way (:func:`action_space`), so a policy written against ``PostTrainEnv`` runs unchanged:

>>> from ptb_env.remote import RemotePostTrainEnv  # doctest: +SKIP
>>> env = RemotePostTrainEnv("ws://127.0.0.1:8000", token="...")  # doctest: +SKIP
>>> obs, info = env.reset(seed=0)  # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step({"tool": "submit"})  # doctest: +SKIP

One env is one WebSocket session (one episode at a time, its own workspace on the server);
``close()`` ends it, and the server then discards a running episode. The client is OpenEnv's
own ``EnvClient`` (with a bearer token on the handshake), driven synchronously. Also
``gym.make("PostTrainRemote-v0", url=...)`` once this module is imported.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from ptb_env.errors import EpisodeNotRunning
from ptb_env.observations import BUDGET_KEYS, Observation, observation_space
from ptb_env.spaces import ToolCallSpace
from ptb_env.tools import default_tools
from ptb_env.tools.runner import ToolRunner

if TYPE_CHECKING:
    from ptb_env.env import Action

try:
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient
    from openenv.core.env_server import State
except ImportError as err:  # pragma: no cover - the message names the extra
    raise ImportError('RemotePostTrainEnv needs OpenEnv: pip install "ptb-env[serve]"') from err

from ptb_env.integrations.openenv_server import TOKEN_ENV, PostTrainAction, PostTrainObservation

REMOTE_ID = "PostTrainRemote-v0"
MESSAGE_TIMEOUT_S = 3600.0
"""Seconds to wait for one reply (a step may train, evaluate or grade)."""


def action_space() -> ToolCallSpace:
    """The tool-call action space of ``PostTrainEnv`` (the same tools, schemas and samplers)."""
    tools = default_tools()
    return ToolCallSpace(
        ToolRunner(tools).schemas,
        {name: t.sample_args for name, t in tools.items()},
        weights={name: t.sample_weight for name, t in tools.items()},
    )


class PostTrainClient(EnvClient[PostTrainAction, PostTrainObservation, State]):
    """OpenEnv's WebSocket client for ``ptb-env serve``, sending ``token`` as a bearer token."""

    _ws: Any

    def __init__(self, base_url: str, *, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._token = token

    async def connect(self) -> PostTrainClient:
        """Open the WebSocket (OpenEnv's ``connect``, plus the ``Authorization`` header)."""
        if self._ws is not None or not self._token:
            await super().connect()
            return self
        from websockets.asyncio.client import connect as ws_connect

        try:
            self._ws = await ws_connect(
                self._ws_url,
                open_timeout=self._connect_timeout,
                max_size=self._max_message_size,
                additional_headers={"Authorization": f"Bearer {self._token}"},
            )
        except Exception as e:
            raise ConnectionError(f"Failed to connect to {self._ws_url}: {e}") from e
        return self

    def _step_payload(self, action: PostTrainAction) -> dict[str, Any]:
        return action.model_dump(exclude_defaults=True)

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[PostTrainObservation]:
        fields = {
            **payload.get("observation", {}),
            "reward": payload.get("reward"),
            "done": payload.get("done", False),
        }
        obs = PostTrainObservation(**fields)
        return StepResult(observation=obs, reward=payload.get("reward"), done=bool(payload.get("done")))

    def _parse_state(self, payload: dict[str, Any]) -> State:
        return State(**payload)


def wire_action(action: Action) -> PostTrainAction:
    """``action`` as the server takes it: ``tool`` and ``args`` when it is a well-formed dict, else
    the whole action as JSON in ``call`` (so the server's env judges it, as a local env would)."""
    if isinstance(action, dict) and set(action) <= {"tool", "args"}:
        tool, args = action.get("tool"), action.get("args", {})
        if isinstance(tool, str) and tool and isinstance(args, dict):
            try:
                return PostTrainAction(tool=tool, args=json.loads(json.dumps(args)))
            except (TypeError, ValueError):
                pass
    if isinstance(action, (str, bytes)):
        return PostTrainAction(call=action if isinstance(action, str) else action.decode(errors="replace"))
    return PostTrainAction(call=json.dumps(action, default=_plain))


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def gym_observation(obs: PostTrainObservation) -> Observation:
    """The gym observation in ``obs`` (``None`` back to ``inf`` budgets and NaN scores)."""

    def score(value: float | None) -> np.ndarray:
        return np.array(math.nan if value is None else value, dtype=np.float64)

    budget = {k: np.array(_or(obs.budget.get(k), math.inf), dtype=np.float64) for k in BUDGET_KEYS}
    return {
        "output": obs.output,
        "workspace": obs.workspace,
        "budget": budget,
        "best_dev_score": score(obs.best_dev_score),
        "last_dev_score": score(obs.last_dev_score),
        "error": obs.error,
    }


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


class RemotePostTrainEnv(gym.Env[Observation, Any]):
    """PostTrain-v0 over the wire: the episode runs in a ``ptb-env serve`` server.

    Args:
        url: The server (``ws://host:port`` or ``http://host:port``).
        task: The task the server must serve (``None``: whichever it serves); checked at reset.
        token: Bearer token (required when the server has one; default: ``$PTB_ENV_TOKEN``). The
            env's ``spec`` (what ``gym.make`` and ``check_env`` remake it from) holds ``url`` and
            ``task`` only, never the token: set ``PTB_ENV_TOKEN`` where a remade env needs one.
        connect_timeout_s: Seconds to wait for the WebSocket handshake.
        message_timeout_s: Seconds to wait for one reply (a step may train, evaluate or grade).

    ``reset``, ``step`` and ``close`` are the local env's: the same spaces, rewards, ``terminated``
    and ``truncated``; ``info`` is the server env's, JSON-safe (``None`` for NaN). The server's
    ``text`` (what a policy reads) is ``info["text"]``; the last step's ``info["episode"]`` is the
    graded ``EpisodeResult`` (as a dict).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        url: str,
        *,
        task: str | None = None,
        token: str | None = None,
        connect_timeout_s: float = 30.0,
        message_timeout_s: float = MESSAGE_TIMEOUT_S,
    ) -> None:
        self.url, self.task = url, task
        self.action_space = action_space()
        self.observation_space = cast("gym.spaces.Space[Observation]", observation_space())
        if self.spec is None:  # constructed directly: a spec that remakes it (never holding the token)
            self.spec = dataclasses.replace(gym.spec(REMOTE_ID), kwargs={"url": url, "task": task})
        token = token or os.environ.get(TOKEN_ENV) or None
        client = PostTrainClient(
            url, token=token, connect_timeout_s=connect_timeout_s, message_timeout_s=message_timeout_s
        )
        self.client = client.sync()
        self._running = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode on the server (a fresh workspace and sandbox, the full budget)."""
        super().reset(seed=seed)
        result = self.client.reset(**({} if seed is None else {"seed": seed}))
        obs = result.observation
        served = obs.info.get("task")
        if self.task is not None and served != self.task:
            self.close()
            raise ValueError(f"The server at {self.url} serves task {served!r}, not {self.task!r}.")
        self._running = True
        return gym_observation(obs), {**obs.info, "text": obs.text}

    def step(self, action: Action) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """One tool call on the server; the last step (``submit`` or budget out) is graded."""
        if not self._running:
            raise EpisodeNotRunning("The episode is not running: call reset() before step().")
        obs = self.client.step(wire_action(action)).observation
        if obs.terminated or obs.truncated:
            self._running = False
        info = {**obs.info, "text": obs.text}
        if obs.grade is not None:
            info["episode"] = obs.grade
        return gym_observation(obs), float(obs.reward or 0.0), obs.terminated, obs.truncated, info

    def state(self) -> State:
        """The server's view of the session: episode id, steps, task, whether it is over."""
        return self.client.state()

    def close(self) -> None:
        """End the session (the server discards a running episode and removes its workspace)."""
        self._running = False
        self.client.close()


if REMOTE_ID not in gym.registry:
    gym.register(REMOTE_ID, entry_point="ptb_env.remote:RemotePostTrainEnv", nondeterministic=True)
