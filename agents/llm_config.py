"""llm_config: the LLM agent's settings (``LLMArgs``) and its record of an episode (``LLMStats``).

Shared by the chat client (``llm_client``), the context budget (``llm_context``) and the
agent (``llm``), which all import it and nothing else of each other's.

>>> LLMArgs(context_tokens=1000).budget_chars
4000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EVENTS_KEPT = 1000
"""Events that ``LLMStats.events`` keeps (the latest)."""


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
