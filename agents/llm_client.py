"""llm_client: an OpenAI-compatible chat endpoint with retries, for the LLM agent.

Connection errors, timeouts, 408/409/429 and 5xx are retried with exponential backoff
and jitter (``LLMArgs.max_tries``, honouring a server's Retry-After up to
``backoff_max_s``); anything else, or retries running out, raises ``LLMError`` with the
likely fix. Retries, errors and the time spent are written to the episode's ``LLMStats``.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ptb_agents.llm_config import LLMArgs, LLMStats

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
"""Where ``vllm serve`` listens by default."""
TRANSIENT_STATUS = frozenset({408, 409, 429})
"""HTTP statuses retried besides 5xx."""


class LLMError(RuntimeError):
    """The chat endpoint failed in a way that retrying does not fix, or the retries ran out."""


class ChatClient:
    """One chat endpoint: ``openai.OpenAI`` (or a test double) behind retries and error advice."""

    def __init__(self, args: LLMArgs, client: Any = None) -> None:
        self.args = args
        self.base_url = args.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
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
                max_retries=0,  # the client retries itself, and counts it
            )
        self.client = client
        self._rng = random.Random(args.seed)

    def create(self, request: dict[str, Any], stats: LLMStats) -> Any:
        """The reply of one chat completion (``request``: the keyword arguments of ``create``)."""
        return self._with_retries(
            lambda: self.client.chat.completions.create(**request), stats, request["model"]
        )

    def only_model(self, stats: LLMStats) -> str:
        """The model the server serves, when it serves exactly one."""
        models = [m.id for m in self._with_retries(lambda: self.client.models.list(), stats, None)]
        if len(models) != 1:
            raise LLMError(
                f"No model given and {self.base_url} serves {len(models)} ({', '.join(models[:10])}): "
                "set LLMArgs.model, --model or PTB_LLM_MODEL."
            )
        return models[0]

    def _with_retries(self, fn: Callable[[], T], stats: LLMStats, model: str | None) -> T:
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
                        stats.last_error = f"HTTP {status}: {_message(err)}"
                        raise LLMError(self._explain(status, _message(err), model)) from err
                    failure: Exception = err
                except openai.APIConnectionError as err:  # includes APITimeoutError
                    status, retry_after, failure = 0, None, err
                what = f"HTTP {status}" if status else type(failure).__name__
                stats.last_error = f"{what}: {_message(failure)}"
                if attempt == self.args.max_tries:
                    raise LLMError(
                        f"The chat endpoint {self.base_url} failed {attempt} times in a row (last: "
                        f"{stats.last_error}). Is the server up and the model loaded? "
                        "Raise LLMArgs.max_tries for a flaky server."
                    ) from failure
                wait = min(self.args.backoff_max_s, self.args.backoff_s * 2 ** (attempt - 1))
                wait = min(
                    self.args.backoff_max_s, max(wait * (1 + 0.25 * self._rng.random()), retry_after or 0)
                )
                stats.retries += 1
                stats.log("retry", error=what, attempt=attempt, wait_s=round(wait, 3))
                logger.warning("llm request failed (%s), retry %d in %.1f s", what, attempt, wait)
                time.sleep(wait)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            stats.request_seconds += time.perf_counter() - t0

    def _explain(self, status: int, message: str, model: str | None) -> str:
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
                f"Check the model name ({model!r}; --model or PTB_LLM_MODEL) and the base URL "
                "(it usually ends in /v1)."
            )
        else:
            fix = "Retrying does not fix this; check the request settings (LLMArgs)."
        return f"{head}\n{fix}"


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
