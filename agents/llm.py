"""llm: a ReAct-style tool-calling agent over any OpenAI-compatible chat endpoint.

The conversation is the task card (system prompt), then one message per observation:
the reply to each tool call is a ``tool`` message answering that call's id. Each
``act`` returns one tool call; when the model asks for several at once they are
queued and run one per step, each answered by its own ``tool`` message.

Behaviour a user of the env relies on (``docs/llm-agent.md`` has the details):

- **No valid tool call** (plain text, arguments that are not a JSON object, an
  unknown tool): the agent answers it without an env step (a user nudge, or a
  ``tool`` message with the error for a broken call) and asks again, up to
  ``max_nudges`` times a step. After that the step runs ``job_status`` (cheap, no side
  effects) and the model is told so. After ``max_failed_steps`` such steps in a row
  the agent gives up the way ``noop`` does: it leaves the base model in
  ``final_model/`` if no checkpoint is there (so the episode grades ``ok``, reward 0,
  not ``invalid_checkpoint``) and submits. Arguments of the wrong type or range are
  not checked here: the env reports them in the observation's ``error``.
- **Context budget** (``llm_context``): before each request, older tool outputs are
  replaced by ``[trimmed N chars]``, then the oldest turns are dropped, then the newest
  output is cut in the middle; the system prompt and the latest ``keep_recent`` messages stay.
- **HTTP errors** (``llm_client``): connection errors, timeouts, 408/409/429 and 5xx are
  retried with exponential backoff (``max_tries``); anything else, or retries running out,
  raises ``LLMError`` with the likely fix (``on_error="give_up"`` submits instead; the error
  stays in ``agent.stats``). An episode never ends silently because of the endpoint.

Settings and statistics (``LLMArgs``, ``LLMStats``) live in ``llm_config``; this module
re-exports them with the client's public names, so ``from ptb_agents.llm import ...`` is
the one import a user needs.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Any

from ptb_agents.llm_client import DEFAULT_BASE_URL, TRANSIENT_STATUS, ChatClient, LLMError
from ptb_agents.llm_config import EVENTS_KEPT, LLMArgs, LLMStats
from ptb_agents.llm_context import fit, request_chars

__all__ = [
    "DEFAULT_BASE_URL",
    "ENSURE_CHECKPOINT",
    "EVENTS_KEPT",
    "FALLBACK_ACTION",
    "TRANSIENT_STATUS",
    "LLMAgent",
    "LLMArgs",
    "LLMError",
    "LLMStats",
    "render_observation",
]

logger = logging.getLogger(__name__)

FALLBACK_ACTION = {"tool": "job_status", "args": {}}
"""The step run when the model gives no valid tool call: cheap and without side effects."""
ENSURE_CHECKPOINT = "[ -f final_model/config.json ] || cp -rL base_model/. final_model/"
"""Run before giving up: the base model is graded (reward 0, status ok) when nothing else is there."""
NUDGE = "Reply with a call of one of the tools ({tools}); plain text does nothing here."


@dataclass
class _Call:
    """A tool call of the model waiting for its turn: an action, or the error that answers it."""

    id: str
    action: dict[str, Any] | None
    error: str = ""


class LLMAgent:
    """Drives PostTrain-v0 with a chat model through OpenAI function calling."""

    name = "llm"

    def __init__(self, args: LLMArgs | None = None, client: Any = None) -> None:
        args = args if args is not None else LLMArgs()
        if args.max_tries < 1 or args.max_nudges < 0 or args.max_failed_steps < 1:
            raise ValueError(
                f"Expect max_tries >= 1, max_nudges >= 0 and max_failed_steps >= 1, actually got "
                f"{args.max_tries}, {args.max_nudges} and {args.max_failed_steps}."
            )
        self.args = args
        self.chat = ChatClient(args, client)
        self.base_url = self.chat.base_url
        self.model = args.model or os.environ.get("PTB_LLM_MODEL") or None
        self.stats = LLMStats()
        self.messages: list[dict[str, Any]] = []
        self.tools: list[dict[str, Any]] = []
        self._tools_chars = 2

    # -- episode ----------------------------------------------------------------
    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        """Start a conversation: the task card as system prompt, the env's tools."""
        if "task_card" not in info or "tool_schemas" not in info:
            raise ValueError("LLMAgent.reset needs the info of env.reset() (task_card, tool_schemas).")
        self.tools = list(info["tool_schemas"])
        self._tools_chars = len(json.dumps(self.tools, ensure_ascii=False))
        self.tool_names = [t["function"]["name"] for t in self.tools]
        self.messages = [{"role": "system", "content": info["task_card"]}]
        self.stats = LLMStats()
        self._queue: list[_Call] = []
        self._plan: list[dict[str, Any]] = []
        self._answer_to: str | None = None  # the tool call id the next observation answers
        self._note = "The episode starts."  # else: the text that introduces it as a user message
        self._failed_steps = 0
        self._ids = 0
        fixed = self._size(self.messages)
        if fixed >= self.args.budget_chars:
            raise ValueError(
                f"The context budget ({self.args.budget_chars:,} chars) does not hold the task card and "
                f"tool schemas ({fixed:,} chars): raise LLMArgs.context_tokens or context_chars."
            )
        if self.model is None:
            self.model = self.chat.only_model(self.stats)

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answer the last call with ``obs`` and return the next tool call."""
        self._observe(obs)
        if self._plan:
            return self._run_plan()
        action = self._next_queued()
        if action is not None:
            return action
        try:
            return self._ask()
        except LLMError as err:
            if self.args.on_error == "raise":
                raise
            self.stats.last_error = str(err)
            logger.warning("llm agent gives up the episode: %s", err)
            return self._give_up(f"The model endpoint failed ({err}).")

    # -- conversation -------------------------------------------------------------
    def _observe(self, obs: dict[str, Any]) -> None:
        text = render_observation(obs, self.args.show_workspace)
        if self._answer_to is not None:
            self.messages.append({"role": "tool", "tool_call_id": self._answer_to, "content": text})
        else:
            self.messages.append({"role": "user", "content": f"{self._note}\n\n{text}", "_obs": True})
        self._answer_to, self._note = None, ""

    def _next_queued(self) -> dict[str, Any] | None:
        """The next queued valid call; broken calls on the way are answered with their error."""
        while self._queue:
            call = self._queue.pop(0)
            if call.action is None:
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": call.error})
                continue
            self._answer_to = call.id
            self._failed_steps = 0
            return call.action
        return None

    def _ask(self) -> dict[str, Any]:
        """Ask the model until it makes a valid tool call, nudging it up to ``max_nudges`` times."""
        why = ""
        for attempt in range(self.args.max_nudges + 1):
            if attempt:
                self.stats.nudges += 1
                self.stats.log("nudge", why=why)
                logger.info("llm agent nudge %d: %s", attempt, why)
                if why == "no tool call":
                    self.messages.append({"role": "user", "content": self._nudge_text(), "_obs": True})
            message = self._complete()
            calls = self._parse(message)
            if not calls:
                why = "no tool call"
                continue
            self._queue = calls
            action = self._next_queued()
            if action is not None:
                return action
            why = "invalid tool calls"
        return self._fallback(why)

    def _nudge_text(self) -> str:
        return NUDGE.format(tools=", ".join(self.tool_names))

    def _parse(self, message: Any) -> list[_Call]:
        """Record the assistant message; its tool calls as queue entries (valid or with the error)."""
        raw_calls = list(getattr(message, "tool_calls", None) or [])
        content = getattr(message, "content", None) or ""
        record: dict[str, Any] = {"role": "assistant", "content": content}
        calls: list[_Call] = []
        wire: list[dict[str, Any]] = []
        for raw in raw_calls:
            fn = getattr(raw, "function", None)
            name = getattr(fn, "name", None) or ""
            arguments = getattr(fn, "arguments", None) or ""
            self._ids += 1
            call_id = getattr(raw, "id", None) or ""
            if not call_id or any(w["id"] == call_id for w in wire):  # missing or repeated by the server
                call_id = f"call_ptb{self._ids}"
            args, error = self._arguments(name, arguments)
            if error:
                calls.append(_Call(call_id, None, error))
            else:
                calls.append(_Call(call_id, {"tool": name, "args": args}))
                self.stats.tool_calls += 1
            # Arguments that are not a JSON object are stored as "{}": servers such as vLLM
            # re-parse the history (the error message quotes what the model sent).
            stored = arguments if _json_object(arguments) is not None else "{}"
            wire.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": stored}})
        if wire:
            record["tool_calls"] = wire
        self.messages.append(record)
        return calls

    def _arguments(self, name: str, arguments: str) -> tuple[dict[str, Any] | None, str]:
        """Parsed arguments, or the error for the model (unknown tool, not a JSON object)."""
        if name not in self.tool_names:
            return None, f"Error: unknown tool {name[:60]!r}; call one of: {', '.join(self.tool_names)}."
        if not arguments.strip():
            return {}, ""
        args = _json_object(arguments)
        if args is None:
            shown = arguments if len(arguments) <= 300 else arguments[:300] + "..."
            return None, (
                f"Error: the arguments of {name} are not a JSON object: {shown}\n"
                f"Call {name} again with its arguments as one JSON object."
            )
        return args, ""

    def _fallback(self, why: str) -> dict[str, Any]:
        """No valid call after the nudges: run the fallback action, or give up after too many."""
        self._failed_steps += 1
        self.stats.fallbacks += 1
        self.stats.log("fallback", why=why, failed_steps=self._failed_steps)
        if self._failed_steps >= self.args.max_failed_steps:
            return self._give_up(f"No valid tool call in {self._failed_steps} steps.")
        self._note = (
            f"No valid tool call in {self.args.max_nudges + 1} replies, so `job_status` was run instead. "
            + self._nudge_text()
        )
        return dict(FALLBACK_ACTION)

    def _give_up(self, why: str) -> dict[str, Any]:
        """Leave a checkpoint in place (the base model if there is none) and submit."""
        self.stats.gave_up = True
        self.stats.log("give_up", why=why)
        self._queue = []
        self._plan = [
            {"tool": "bash", "args": {"command": ENSURE_CHECKPOINT}},
            {"tool": "submit", "args": {}},
        ]
        self._note = (
            f"{why} The agent gives up: the base model is kept if there is no checkpoint, then submit."
        )
        return self._run_plan()

    def _run_plan(self) -> dict[str, Any]:
        self._note = self._note or "The agent is submitting."
        return self._plan.pop(0)

    # -- requests ---------------------------------------------------------------
    def _complete(self) -> Any:
        """One chat completion of the (fitted) conversation; returns the reply's message."""
        fit(
            self.messages,
            self.stats,
            budget=self.args.budget_chars,
            keep_recent=self.args.keep_recent,
            tools_chars=self._tools_chars,
        )
        messages = [{k: v for k, v in m.items() if not k.startswith("_")} for m in self.messages]
        size = self._size(self.messages)
        self.stats.max_request_chars = max(self.stats.max_request_chars, size)
        request: dict[str, Any] = {"model": self.model, "messages": messages, "tools": self.tools}
        request["tool_choice"] = self.args.tool_choice
        if self.args.temperature is not None:
            request["temperature"] = self.args.temperature
        if self.args.max_tokens is not None:
            request["max_tokens"] = self.args.max_tokens
        if self.args.extra_body:
            request["extra_body"] = self.args.extra_body
        reply = self.chat.create(request, self.stats)
        self.stats.requests += 1
        usage = getattr(reply, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.stats.prompt_tokens += prompt
        self.stats.completion_tokens += completion
        self.stats.log("request", chars=size, prompt_tokens=prompt, completion_tokens=completion)
        choices = getattr(reply, "choices", None) or []
        return choices[0].message if choices else None

    def _size(self, messages: list[dict[str, Any]]) -> int:
        """Characters of the request's messages and tools as JSON (``json.dumps`` of each list)."""
        return request_chars(messages, self._tools_chars)


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed, when it is a JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def render_observation(obs: dict[str, Any], show_workspace: bool = True) -> str:
    """An observation as the text of a tool message: error, output, budget, dev scores, workspace."""
    parts = []
    if obs.get("error"):
        parts.append(f"ERROR: {obs['error']}")
    if obs.get("output"):
        parts.append(str(obs["output"]))
    budget = obs.get("budget", {})

    def num(key: str, fmt: str) -> str:
        value = float(budget.get(key, math.inf))
        return "unlimited" if math.isinf(value) else format(value, fmt)

    scores = [(k, float(obs.get(f"{k}_dev_score", math.nan))) for k in ("best", "last")]
    shown = ", ".join(f"{k} {v:.3f}" for k, v in scores if not math.isnan(v)) or "none yet"
    compute = float(budget.get("compute_left", math.inf))
    parts.append(
        "[budget left: "
        + (f"{compute:.4g} TFLOP of compute, " if math.isfinite(compute) else "")
        + f"{num('seconds_left', '.0f')} s, {num('steps_left', '.0f')} tool calls, "
        f"{num('dev_evals_left', '.0f')} dev evaluations; dev score: {shown}]"
    )
    if show_workspace and obs.get("workspace"):
        parts.append(f"[workspace]\n{obs['workspace']}")
    return "\n".join(parts)
