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
- **Context budget**: before each request, older tool outputs are replaced by
  ``[trimmed N chars]``, then the oldest turns are dropped, then the newest output is
  cut in the middle; the system prompt and the latest ``keep_recent`` messages stay.
- **HTTP errors**: connection errors, timeouts, 408/409/429 and 5xx are retried with
  exponential backoff (``max_tries``); anything else, or retries running out, raises
  ``LLMError`` with the likely fix (``on_error="give_up"`` submits instead; the error
  stays in ``agent.stats``). An episode never ends silently because of the endpoint.

>>> LLMArgs(context_tokens=1000).budget_chars
4000
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
"""Where ``vllm serve`` listens by default."""
TRANSIENT_STATUS = frozenset({408, 409, 429})
"""HTTP statuses retried besides 5xx."""
FALLBACK_ACTION = {"tool": "job_status", "args": {}}
"""The step run when the model gives no valid tool call: cheap and without side effects."""
ENSURE_CHECKPOINT = "[ -f final_model/config.json ] || cp -rL base_model/. final_model/"
"""Run before giving up: the base model is graded (reward 0, status ok) when nothing else is there."""
NUDGE = "Reply with a call of one of the tools ({tools}); plain text does nothing here."
EVENTS_KEPT = 1000


class LLMError(RuntimeError):
    """The chat endpoint failed in a way that retrying does not fix, or the retries ran out."""


@dataclass(frozen=True)
class LLMArgs:
    """Settings of the LLM agent (``None``: from the environment variable named)."""

    base_url: str | None = None
    """Chat endpoint (default ``$OPENAI_BASE_URL``, else ``http://127.0.0.1:8000/v1``)."""
    model: str | None = None
    """Model name (default ``$PTB_LLM_MODEL``, else the only model the server lists)."""
    api_key: str | None = None
    """API key (default ``$OPENAI_API_KEY``, else ``"EMPTY"``, which vLLM accepts)."""
    temperature: float | None = None
    """Sampling temperature (``None``: the server's default)."""
    max_tokens: int | None = 2048
    """Most tokens per reply."""
    tool_choice: str = "auto"
    """``"auto"`` or ``"required"`` (vLLM then constrains the output to a tool call)."""
    extra_body: dict[str, Any] | None = None
    """Extra request fields for the server (e.g. vLLM's ``chat_template_kwargs``)."""
    context_tokens: int = 32_000
    """Budget of one request (messages and tool schemas), in approximate tokens."""
    chars_per_token: float = 4.0
    """Characters per token of the approximation (lower it for small vocabularies)."""
    context_chars: int | None = None
    """Budget in characters instead (overrides ``context_tokens``)."""
    keep_recent: int = 4
    """Latest messages that are never trimmed (unless they alone exceed the budget)."""
    show_workspace: bool = True
    """Append the observation's workspace summary to each tool output."""
    request_timeout_s: float = 600.0
    """Seconds one request may take before it counts as a (retried) timeout."""
    max_tries: int = 5
    """Tries of one request (transient errors only)."""
    backoff_s: float = 1.0
    """Wait before the first retry; it doubles each retry."""
    backoff_max_s: float = 60.0
    """Longest wait between tries (also caps a server's Retry-After)."""
    max_nudges: int = 3
    """Replies without a valid tool call answered per step before the fallback action runs."""
    max_failed_steps: int = 3
    """Fallback steps in a row after which the agent gives up (keeps a checkpoint, submits)."""
    on_error: Literal["raise", "give_up"] = "raise"
    """On an endpoint failure: raise ``LLMError``, or give up the episode as above."""
    seed: int = 0
    """Seed of the backoff jitter."""

    @property
    def budget_chars(self) -> int:
        """The request budget in characters."""
        if self.context_chars is not None:
            return self.context_chars
        return int(self.context_tokens * self.chars_per_token)


@dataclass
class LLMStats:
    """What the agent did in its current episode (``agent.stats``)."""

    requests: int = 0
    """Chat requests that got a reply."""
    retries: int = 0
    """Failed tries that were retried."""
    tool_calls: int = 0
    """Valid tool calls the model made."""
    nudges: int = 0
    """Replies without a valid tool call that were answered and asked again."""
    fallbacks: int = 0
    """Steps that ran the fallback action."""
    gave_up: bool = False
    """The agent gave up the episode (too many failed steps, or an endpoint error with ``give_up``)."""
    prompt_tokens: int = 0
    """Prompt tokens, as the server reported them."""
    completion_tokens: int = 0
    """Completion tokens, as the server reported them."""
    trimmed_messages: int = 0
    trimmed_chars: int = 0
    dropped_messages: int = 0
    max_request_chars: int = 0
    """Largest request sent (messages and tool schemas, JSON characters)."""
    request_seconds: float = 0.0
    """Time spent in requests, waits between retries included."""
    last_error: str = ""
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """One record per request, retry, nudge and fallback (the last 1000)."""

    def log(self, event: str, **data: Any) -> None:
        self.events.append({"event": event, **data})
        del self.events[:-EVENTS_KEPT]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "events"}


@dataclass
class _Call:
    """A tool call of the model waiting for its turn: an action, or the error that answers it."""

    id: str
    action: dict[str, Any] | None
    error: str = ""


class LLMAgent:
    """Drives PostTrain-v0 with a chat model through OpenAI function calling."""

    name = "llm"

    def __init__(self, args: LLMArgs = LLMArgs(), client: Any = None) -> None:
        if args.max_tries < 1 or args.max_nudges < 0 or args.max_failed_steps < 1:
            raise ValueError(
                f"Expect max_tries >= 1, max_nudges >= 0 and max_failed_steps >= 1, actually got "
                f"{args.max_tries}, {args.max_nudges} and {args.max_failed_steps}."
            )
        self.args = args
        self.base_url = args.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.model = args.model or os.environ.get("PTB_LLM_MODEL") or None
        if client is None:
            try:
                import openai
            except ImportError as err:  # pragma: no cover - openai is a test dependency
                raise ImportError(
                    'The llm agent needs the openai client: pip install "ptb-env[llm]"'
                ) from err
            client = openai.OpenAI(
                base_url=self.base_url,
                api_key=args.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                timeout=args.request_timeout_s,
                max_retries=0,  # the agent retries itself, and counts it
            )
        self.client = client
        self._rng = random.Random(args.seed)
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
            self.model = self._only_model()

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
        self._fit()
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
        reply = self._with_retries(lambda: self.client.chat.completions.create(**request))
        self.stats.requests += 1
        usage = getattr(reply, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.stats.prompt_tokens += prompt
        self.stats.completion_tokens += completion
        self.stats.log("request", chars=size, prompt_tokens=prompt, completion_tokens=completion)
        choices = getattr(reply, "choices", None) or []
        return choices[0].message if choices else None

    def _only_model(self) -> str:
        """The model the server serves, when it serves exactly one."""
        models = [m.id for m in self._with_retries(lambda: self.client.models.list())]
        if len(models) != 1:
            raise LLMError(
                f"No model given and {self.base_url} serves {len(models)} ({', '.join(models[:10])}): "
                "set LLMArgs.model, --model or PTB_LLM_MODEL."
            )
        return models[0]

    def _with_retries(self, fn: Callable[[], T]) -> T:
        """``fn()``, retrying transient errors with exponential backoff and jitter."""
        import openai

        t0 = time.perf_counter()
        try:
            for attempt in range(1, self.args.max_tries + 1):
                try:
                    return fn()
                except openai.APIStatusError as err:
                    status, retry_after = err.status_code, _retry_after(err)
                    if status not in TRANSIENT_STATUS and status < 500:
                        self.stats.last_error = f"HTTP {status}: {_message(err)}"
                        raise LLMError(self._explain(status, _message(err))) from err
                    failure: Exception = err
                except openai.APIConnectionError as err:  # includes APITimeoutError
                    status, retry_after, failure = 0, None, err
                what = f"HTTP {status}" if status else type(failure).__name__
                self.stats.last_error = f"{what}: {_message(failure)}"
                if attempt == self.args.max_tries:
                    raise LLMError(
                        f"The chat endpoint {self.base_url} failed {attempt} times in a row (last: "
                        f"{self.stats.last_error}). Is the server up and the model loaded? "
                        "Raise LLMArgs.max_tries for a flaky server."
                    ) from failure
                wait = min(self.args.backoff_max_s, self.args.backoff_s * 2 ** (attempt - 1))
                wait = min(
                    self.args.backoff_max_s, max(wait * (1 + 0.25 * self._rng.random()), retry_after or 0)
                )
                self.stats.retries += 1
                self.stats.log("retry", error=what, attempt=attempt, wait_s=round(wait, 3))
                logger.warning("llm request failed (%s), retry %d in %.1f s", what, attempt, wait)
                time.sleep(wait)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self.stats.request_seconds += time.perf_counter() - t0

    def _explain(self, status: int, message: str) -> str:
        """A non-transient error with its likely fix."""
        low = message.lower()
        head = f"The chat endpoint {self.base_url} refused the request (HTTP {status}): {message[:500]}"
        if status == 400 and "tool" in low:
            fix = (
                "The server does not take tool calls as sent. With vLLM, start it with "
                "`vllm serve MODEL --enable-auto-tool-choice --tool-call-parser hermes` (the parser "
                "that fits the model's chat template); a hosted API needs a model with function calling."
            )
        elif status == 400 and ("context" in low or "too long" in low or "maximum" in low):
            fix = (
                "The conversation is longer than the model takes: lower LLMArgs.context_tokens (or "
                "chars_per_token for a small vocabulary), or serve the model with a larger --max-model-len."
            )
        elif status in (401, 403):
            fix = "Check the API key (--api-key or OPENAI_API_KEY)."
        elif status == 404:
            fix = (
                f"Check the model name ({self.model!r}; --model or PTB_LLM_MODEL) and the base URL "
                "(it usually ends in /v1)."
            )
        else:
            fix = "Retrying does not fix this; check the request settings (LLMArgs)."
        return f"{head}\n{fix}"

    # -- context budget -----------------------------------------------------------
    def _size(self, messages: list[dict[str, Any]]) -> int:
        """Characters of the request's messages and tools as JSON (``json.dumps`` of each list)."""
        return _list_chars([_chars(m) for m in messages]) + self._tools_chars

    def _fit(self) -> None:
        """Trim the conversation to the budget: old outputs, then old turns, then the newest output."""
        budget, msgs, stats = self.args.budget_chars, self.messages, self.stats
        sizes = [_chars(m) for m in msgs]

        def total() -> int:
            return _list_chars(sizes) + self._tools_chars

        def trim(i: int) -> None:
            if _trim(msgs[i], stats):
                sizes[i] = _chars(msgs[i])

        if total() <= budget:
            return
        protected = max(1, len(msgs) - self.args.keep_recent)
        for i in range(1, protected):  # 1. older observations become markers, oldest first
            if _is_obs(msgs[i]):
                trim(i)
                if total() <= budget:
                    return
        # 2. drop the oldest turns (an assistant message and what follows up to the next one),
        #    keeping the first observation so that the conversation opens with a user message
        first = 2 if len(msgs) > 1 and msgs[1]["role"] == "user" else 1
        dropped = 0
        while total() > budget:
            starts = [i for i in range(first, len(msgs)) if msgs[i]["role"] == "assistant"][:2]
            if len(starts) < 2 or starts[1] > len(msgs) - self.args.keep_recent:
                break
            del msgs[starts[0] : starts[1]], sizes[starts[0] : starts[1]]
            dropped += starts[1] - starts[0]
        if dropped:
            stats.dropped_messages += dropped
            if first == 2:
                msgs[1]["content"] = f"[{stats.dropped_messages} earlier messages dropped]"
                sizes[1] = _chars(msgs[1])
        for i in range(1, len(msgs) - 1):  # 3. the recent observations but the newest
            if total() <= budget:
                return
            if _is_obs(msgs[i]):
                trim(i)
        last = msgs[-1]
        for _ in range(5):  # 4. cut the newest observation in the middle (JSON escapes need a few rounds)
            over = total() - budget
            if over <= 0 or not _is_obs(last):
                break
            text = last["content"]
            keep = max(0, len(text) - over - 80)
            last["content"] = (
                text[: keep // 2]
                + f"\n[... {len(text) - keep} chars trimmed ...]\n"
                + text[len(text) - keep // 2 :]
            )
            sizes[-1] = _chars(last)
            stats.trimmed_chars += len(text) - keep
        if total() > budget:
            stats.log("over_budget", chars=total(), budget=budget)


def _chars(message: dict[str, Any]) -> int:
    """Characters of one message as sent (private ``_`` keys left out)."""
    return len(json.dumps({k: v for k, v in message.items() if not k.startswith("_")}, ensure_ascii=False))


def _list_chars(sizes: list[int]) -> int:
    """Characters of a JSON list of items of these sizes (``json.dumps`` separates with ", ")."""
    return 2 + sum(sizes) + 2 * max(0, len(sizes) - 1)


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed, when it is a JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def _is_obs(message: dict[str, Any]) -> bool:
    return message["role"] == "tool" or bool(message.get("_obs"))


def _trim(message: dict[str, Any], stats: LLMStats) -> bool:
    """Replace an observation's text by a marker; False when it is already short."""
    text = message.get("content") or ""
    marker = f"[trimmed {len(text)} chars]"
    if text.startswith("[trimmed ") or len(text) <= len(marker):
        return False
    message["content"] = marker
    stats.trimmed_messages += 1
    stats.trimmed_chars += len(text)
    return True


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
    parts.append(
        f"[budget left: {num('seconds_left', '.0f')} s, {num('steps_left', '.0f')} tool calls, "
        f"{num('dev_evals_left', '.0f')} dev evaluations; dev score: {shown}]"
    )
    if show_workspace and obs.get("workspace"):
        parts.append(f"[workspace]\n{obs['workspace']}")
    return "\n".join(parts)


def _message(err: Exception) -> str:
    """The server's error message, when it sent one."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    return str(getattr(err, "message", None) or err)


def _retry_after(err: Any) -> float | None:
    """Seconds of a Retry-After header, if the server sent one."""
    try:
        return float(err.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
