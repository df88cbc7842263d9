"""llm_context: fitting the LLM agent's conversation into its context budget.

Before each request, older tool outputs are replaced by ``[trimmed N chars]``, then the
oldest turns are dropped, then the newest output is cut in the middle; the system prompt
and the latest ``keep_recent`` messages stay. Sizes are characters of the request as JSON
(``json.dumps`` of the messages and of the tool schemas); messages are chat messages whose
private ``_`` keys (``_obs``: an observation sent as a user message) are not sent.
"""

from __future__ import annotations

import json
from typing import Any

from ptb_agents.llm_config import LLMStats


def request_chars(messages: list[dict[str, Any]], tools_chars: int) -> int:
    """Characters of a request's messages (as sent) and tools (``tools_chars``) as JSON."""
    return _list_chars([message_chars(m) for m in messages]) + tools_chars


def fit(
    msgs: list[dict[str, Any]], stats: LLMStats, *, budget: int, keep_recent: int, tools_chars: int
) -> None:
    """Trim ``msgs`` in place to ``budget``: old outputs, then old turns, then the newest output."""
    sizes = [message_chars(m) for m in msgs]

    def total() -> int:
        return _list_chars(sizes) + tools_chars

    def trim(i: int) -> None:
        if _trim(msgs[i], stats):
            sizes[i] = message_chars(msgs[i])

    if total() <= budget:
        return
    protected = max(1, len(msgs) - keep_recent)
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
        if len(starts) < 2 or starts[1] > len(msgs) - keep_recent:
            break
        del msgs[starts[0] : starts[1]], sizes[starts[0] : starts[1]]
        dropped += starts[1] - starts[0]
    if dropped:
        stats.dropped_messages += dropped
        if first == 2:
            msgs[1]["content"] = f"[{stats.dropped_messages} earlier messages dropped]"
            sizes[1] = message_chars(msgs[1])
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
        sizes[-1] = message_chars(last)
        stats.trimmed_chars += len(text) - keep
    if total() > budget:
        stats.log("over_budget", chars=total(), budget=budget)


def message_chars(message: dict[str, Any]) -> int:
    """Characters of one message as sent (private ``_`` keys left out)."""
    return len(json.dumps({k: v for k, v in message.items() if not k.startswith("_")}, ensure_ascii=False))


def _list_chars(sizes: list[int]) -> int:
    """Characters of a JSON list of items of these sizes (``json.dumps`` separates with ", ")."""
    return 2 + sum(sizes) + 2 * max(0, len(sizes) - 1)


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
