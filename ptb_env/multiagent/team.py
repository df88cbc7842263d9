"""PostTrainTeam: N agents share one PostTrain-v0 episode, its workspace and its budget (PettingZoo Parallel).

Each round, every agent sends one tool call (or ``{"tool": "pass"}``); the calls run one after
another through the one :class:`~ptb_env.env.PostTrainEnv` underneath, in a turn order that
rotates every round (round ``r`` starts with agent ``r mod N``). A call runs to its end before
the next one starts, so calls never interleave in the shared shell or workspace; background
jobs (``train``, ``job_start``) keep running between calls and rounds, as in the single-agent
env.

Shared: the workspace, the persistent shell (a teammate's ``cd`` or ``export`` moves yours
too: prefer paths relative to ``/workspace``), the job table, the dev scores and the budget
(every call but ``pass`` uses one step; ``pass`` uses none). A ``submit`` ends the episode for
everyone at once: the calls after it in that round are not run. So does the budget running out,
and the ``max_rounds``-th round (the env then submits for the team).

Joint reward: every agent gets the same reward each round, the sum of the env's rewards for the
round's calls: 0 until the end, then the uplift of ``final_model/`` (or the env's
``reward_mode`` / ``dev_shaping`` variants).

>>> from ptb_env.multiagent import team  # doctest: +SKIP
>>> env = team.parallel_env(roles=("curator", "trainer", "evaluator"))  # doctest: +SKIP
>>> obs, infos = env.reset(seed=0)  # doctest: +SKIP
>>> obs, rewards, terminations, truncations, infos = env.step(  # doctest: +SKIP
...     {agent: {"tool": "pass"} for agent in env.agents})
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from ptb_env.env import PostTrainEnv
from ptb_env.errors import EpisodeNotRunning
from ptb_env.multiagent._pettingzoo import ParallelEnv, parallel_to_aec, parallel_to_aec_wrapper
from ptb_env.multiagent.info import grade_info
from ptb_env.observations import MAX_SUMMARY_CHARS, observation_space
from ptb_env.sandbox import truncate_middle
from ptb_env.spaces import AnyText, ToolCallSpace, check_call
from ptb_env.tasks import DEFAULT_TASK, TaskSpec
from ptb_env.tools.results import result_info

DEFAULT_ROLES = ("curator", "trainer", "evaluator")
ROLE_HINTS = {
    "curator": "you prepare the training data in data/ (generate, filter, mix).",
    "trainer": "you run training jobs on the curated data and keep the best checkpoint in final_model/.",
    "evaluator": "you measure checkpoints on the dev split and decide when the team submits.",
}
"""What each known role is asked to do (shown in its task card; tools are the same for every role)."""
PASS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
PASS_DESCRIPTION = "Do nothing this round (uses no step of the budget)."
PASS_WEIGHT = 1.0
"""Sampling weight of ``pass`` in the action space (the env's tools keep theirs)."""
TURN_CHARS = 600
"""Characters of a teammate's call and of its output shown in ``teammates``."""
_MARGIN = 200
_ROLE = re.compile(r"[a-z][a-z0-9]*")


@dataclass(frozen=True)
class Turn:
    """One agent's part of a round: what it asked for and what came back."""

    agent: str
    tool: str | None
    """The tool called; ``"pass"``; ``None`` for an invalid call or one that was not run."""
    call: str
    output: str = ""
    error: str = ""
    ran: bool = True
    """Whether the call reached the env (``False``: passed, or not run after the episode ended)."""
    args: dict[str, Any] = field(default_factory=dict)
    """The call's validated arguments (``{}`` when it did not run)."""
    result: dict[str, Any] = field(default_factory=dict)
    """The call's structured result (``info["result"]`` of the env; see ``ptb_env.tools.results``)."""

    def data(self) -> dict[str, Any]:
        """The turn for code: ``agent``, ``tool``, ``args``, ``result``."""
        result = self.result or result_info(self.tool, self.error, {})
        return {"agent": self.agent, "tool": self.tool, "args": self.args, "result": result}

    def describe(self, position: int, of: int) -> str:
        head = f"- {self.agent} (turn {position}/{of}): {self.call}"
        if self.tool == "pass" and not self.error:
            return head
        body = self.error and f"error: {self.error}" or self.output
        return f"{head}\n  -> {truncate_middle(body.strip(), TURN_CHARS)}"


def team_observation_space() -> spaces.Dict:
    """The single-agent observation plus ``teammates``: what the others did last round (text)."""
    base = observation_space()
    return spaces.Dict({**base.spaces, "teammates": AnyText(MAX_SUMMARY_CHARS + _MARGIN)})


class PostTrainTeam(ParallelEnv):
    """Several agents post-train one model together: one workspace, one budget, one reward.

    Args:
        task: Task id or ``TaskSpec``.
        roles: One role per agent; agent ids are ``f"{role}_{i}"`` (e.g. ``curator_0``). Known
            roles (``ROLE_HINTS``) get a line of advice in their task card; every role has every tool.
        max_rounds: Rounds before the env submits for the team (default: the step budget, so a
            team that only passes still ends).
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns the last round as text).
        **env_kwargs: Passed to :class:`~ptb_env.env.PostTrainEnv` (budget, sandbox, workspace
            root, score cache, reward mode, integrity, ...).

    Raises:
        ValueError: No roles, a role that is not a lowercase word, or ``max_rounds`` < 1.
    """

    metadata = {"name": "post_train_team_v0", "is_parallelizable": True, "render_modes": ["ansi"]}

    def __init__(
        self,
        task: str | TaskSpec = DEFAULT_TASK,
        *,
        roles: Sequence[str] = DEFAULT_ROLES,
        max_rounds: int | None = None,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        roles = tuple(roles)
        if not roles or not all(isinstance(r, str) and _ROLE.fullmatch(r) for r in roles):
            raise ValueError(
                f"Expect roles to be one or more lowercase words such as {DEFAULT_ROLES}, "
                f"actually got {roles!r}."
            )
        if max_rounds is not None and max_rounds < 1:
            raise ValueError(f"Expect max_rounds >= 1 or None, actually got {max_rounds!r}.")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"Expect render_mode None or 'ansi', actually got {render_mode!r}.")
        if "render_mode" in env_kwargs:
            raise ValueError("Pass render_mode to PostTrainTeam itself, not to the env.")
        self.env = PostTrainEnv(task, **env_kwargs)
        self.task = self.env.task
        self.roles = {f"{r}_{i}": r for i, r in enumerate(roles)}
        self.possible_agents = list(self.roles)
        self.agents: list[str] = []
        steps = self.env.limits["steps"]
        self.max_rounds = max_rounds or (int(steps) if steps else 10_000)
        self.render_mode = render_mode
        inner = self.env.action_space
        assert isinstance(inner, ToolCallSpace)
        self._schemas = {**inner.schemas, "pass": PASS_SCHEMA}
        weights = {**{n: t.sample_weight for n, t in self.env.tools.items()}, "pass": PASS_WEIGHT}
        samplers = {**inner.samplers, "pass": lambda rng: {}}
        # one space object per agent, so that each can be seeded on its own
        self.action_spaces = {
            a: ToolCallSpace(self._schemas, samplers, weights) for a in self.possible_agents
        }
        self.observation_spaces = {a: team_observation_space() for a in self.possible_agents}
        self._lock = threading.Lock()
        self._round = 0
        self._shared: dict[str, Any] = {}
        self._last: list[Turn] = []

    # -- PettingZoo API ----------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """The team's tools (the env's plus ``pass``) in the OpenAI function-calling format."""
        pass_tool = {
            "type": "function",
            "function": {"name": "pass", "description": PASS_DESCRIPTION, "parameters": PASS_SCHEMA},
        }
        return [*self.env.tool_schemas, pass_tool]

    def task_card(self, agent: str) -> str:
        """The env's task card plus the agent's role and the team's rules."""
        others = ", ".join(f"`{a}` ({r})" for a, r in self.roles.items() if a != agent) or "none"
        hint = ROLE_HINTS.get(self.roles[agent], "")
        return (
            f"{self.env.task_card.rstrip()}\n\n## Your team\n"
            f"You are `{agent}` (role: {self.roles[agent]}){': ' + hint if hint else '.'}\n"
            f"Teammates: {others}. You share one workspace, one shell (a teammate's `cd` moves yours "
            "too), one job table and one budget. Each round every agent makes one tool call, or "
            '{"tool": "pass"}, which costs nothing; the calls run one after another, in a turn order '
            "that rotates every round. Your observation's `teammates` shows what the others did last "
            "round. Anyone's `submit` ends the episode for the whole team; the reward is shared.\n"
        )

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Start an episode (``seed`` goes to the env). Infos: ``task``, ``task_card``, ``role``,
        ``tool_schemas`` and ``base_score`` per agent (no host paths: see ``env.workspace``)."""
        with self._lock:
            obs, info = self.env.reset(seed=seed, options=options)
            self.agents = list(self.possible_agents)
            self._round, self._last = 0, []
            self._shared = {k: v for k, v in obs.items() if k not in ("output", "error")}
            observations = {a: self._observe(a, obs["output"], "") for a in self.agents}
            schemas = self.tool_schemas
            infos = {
                a: {
                    "task": info["task"],
                    "benchmark": info["benchmark"],
                    "task_card": self.task_card(a),
                    "role": self.roles[a],
                    "tool_schemas": schemas,
                    "base_score": info["base_score"],
                }
                for a in self.agents
            }
            return observations, infos

    def step(self, actions: Mapping[str, Any]):
        """Run one round: each live agent's call, one after another in this round's turn order.

        A live agent missing from ``actions`` (or sent ``None``) passes.

        Raises:
            EpisodeNotRunning: The episode is over (or never started).
        """
        with self._lock:
            if not self.agents:
                raise EpisodeNotRunning("The episode is over (or never started): call reset() first.")
            order = self._order()
            turns, reward, end = [], 0.0, None
            for agent in order:
                action = actions.get(agent)
                parsed, why = check_call(action, self._schemas) if action is not None else (("pass", {}), "")
                if parsed is not None and parsed[0] == "pass":
                    turns.append(Turn(agent, "pass", "pass", ran=False))
                    continue
                if parsed is None and _names_pass(action):  # the env does not know `pass`: answer here
                    turns.append(Turn(agent, None, _show(action), error=why, ran=False))
                    continue
                if end is not None:
                    why = "a teammate submitted" if end[0] else "the budget ran out"
                    turns.append(
                        Turn(
                            agent, None, _show(action), error=f"not run: {why} earlier this round", ran=False
                        )
                    )
                    continue
                assert action is not None  # a missing action passed above
                obs, r, terminated, truncated, info = self.env.step(action)
                reward += r
                self._shared = {k: v for k, v in obs.items() if k not in ("output", "error")}
                call = self.env.last_call
                args = call.args if call is not None else {}
                turns.append(
                    Turn(
                        agent, info["tool"], _show(action), obs["output"], obs["error"],
                        args=args, result=info["result"],
                    )
                )  # fmt: skip
                if terminated or truncated:
                    end = (terminated, truncated, info)
            self._round += 1
            if end is None and self._round >= self.max_rounds:
                obs, r, _, _, info = self.env.step({"tool": "submit"})
                reward += r
                self._shared = {k: v for k, v in obs.items() if k not in ("output", "error")}
                end = (False, True, {**info, "truncated_by": ["rounds"]})
            self._last = turns
            by_agent = {t.agent: t for t in turns}
            observations = {a: self._observe(a, by_agent[a].output, by_agent[a].error) for a in order}
            rewards = dict.fromkeys(self.agents, float(reward))
            infos = {
                a: {
                    "tool": by_agent[a].tool,
                    "turn": order.index(a) + 1,
                    "result": by_agent[a].data()["result"],
                    "teammates": [t.data() for t in turns if t.agent != a],
                }
                for a in self.agents
            }
            terminations = dict.fromkeys(self.agents, False)
            truncations = dict.fromkeys(self.agents, False)
            if end is not None:
                workspace = self.env.workspace
                assert workspace is not None
                grade = grade_info(end[2], workspace)
                for a in self.agents:
                    infos[a].update(grade)
                terminations = dict.fromkeys(self.agents, end[0])
                truncations = dict.fromkeys(self.agents, end[1])
                self.agents = []
            return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """The last round as text (``render_mode="ansi"``)."""
        if self.render_mode != "ansi" or not self._shared:
            return None
        budget = ", ".join(f"{k}={float(v):g}" for k, v in self._shared["budget"].items())
        rounds = self._teammates_text(None)
        return f"{rounds}\n--- workspace ---\n{self._shared['workspace']}\n--- budget: {budget}"

    def close(self) -> None:
        """Kill every process of the episode and remove its workspace (idempotent)."""
        self.agents = []
        self.env.close()

    @property
    def workspace(self):
        """The current episode's workspace (``None`` between episodes)."""
        return self.env.workspace

    # -- helpers -----------------------------------------------------------------
    def _order(self) -> list[str]:
        n = len(self.possible_agents)
        start = self._round % n
        rotated = self.possible_agents[start:] + self.possible_agents[:start]
        return [a for a in rotated if a in self.agents]

    def _teammates_text(self, agent: str | None) -> str:
        if not self._last:
            return ""
        n = len(self._last)
        lines = [f"round {self._round}:"]
        lines += [t.describe(i + 1, n) for i, t in enumerate(self._last) if t.agent != agent]
        return truncate_middle("\n".join(lines), MAX_SUMMARY_CHARS)

    def _observe(self, agent: str, output: str, error: str) -> dict[str, Any]:
        shared = self._shared
        return {
            "output": output,
            "workspace": shared["workspace"],
            "budget": {k: np.array(v, dtype=np.float64) for k, v in shared["budget"].items()},
            "best_dev_score": np.array(shared["best_dev_score"], dtype=np.float64),
            "last_dev_score": np.array(shared["last_dev_score"], dtype=np.float64),
            "error": error,
            "teammates": self._teammates_text(agent),
        }


def _names_pass(action: Any) -> bool:
    """Whether a (malformed) action asks for the ``pass`` tool."""
    if isinstance(action, str):
        try:
            action = json.loads(action)
        except (ValueError, RecursionError):
            return False
    return isinstance(action, Mapping) and action.get("tool") == "pass"


def _show(action: Any) -> str:
    """A tool call as one short line: ``tool {args}`` (or the raw action when it is not a call)."""
    if isinstance(action, Mapping) and isinstance(action.get("tool"), str):
        args = action.get("args") or {}
        try:
            text = f"{action['tool']} {json.dumps(args, ensure_ascii=False)}" if args else action["tool"]
        except (TypeError, ValueError, RecursionError):
            text = f"{action['tool']} <arguments that cannot be shown>"
    elif isinstance(action, str):
        text = action
    else:
        try:
            text = repr(action)
        except (ValueError, RecursionError):
            text = f"<{type(action).__name__} that cannot be shown>"
    return truncate_middle(text, TURN_CHARS)


parallel_env = PostTrainTeam
"""PettingZoo's ``parallel_env``: the native parallel env."""


def raw_env(**kwargs: Any) -> Any:
    """The AEC view without PettingZoo's order-enforcing wrapper (``parallel_to_aec_wrapper``)."""
    return parallel_to_aec_wrapper(PostTrainTeam(**kwargs))


def env(**kwargs: Any) -> Any:
    """The AEC view (PettingZoo's ``parallel_to_aec``): agents act in turn, a round runs once all have."""
    return parallel_to_aec(PostTrainTeam(**kwargs))


__all__ = [
    "DEFAULT_ROLES",
    "ROLE_HINTS",
    "PostTrainTeam",
    "Turn",
    "env",
    "parallel_env",
    "raw_env",
    "team_observation_space",
]
