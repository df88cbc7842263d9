"""A test double of a model server for coding-agent CLIs: real HTTP on 127.0.0.1, a scripted policy.

:mod:`tests.agents.openai_double` answers plain chat completions from a fixed script; a
coding-agent CLI (OpenCode, Codex CLI) asks for more: streamed replies (server-sent events),
side requests (a session title), tool names it chose itself (``ptb-env_bash``,
``mcp__ptb-env__bash``). This double answers each request from a *policy*, a function of the
request (the conversation so far and the tools offered), so the CLI may send any number of
requests in any order. It speaks:

- ``POST /v1/chat/completions``, streamed (``"stream": true``: chat-completion chunks, then
  ``[DONE]``) or not;
- ``POST /v1/responses`` (the Responses API), streamed as ``response.*`` events;
- ``GET /v1/models``: the one model :data:`MODEL`.

Every request is kept in ``server.requests`` (method, path, body), so a test can see what the
CLI sent, tool results included. :func:`episode_policy` plays a PostTrain episode through
whatever tools the CLI offers: copy the base model to ``final_model/``, then ``submit``.

>>> with ModelServer(episode_policy) as server:  # doctest: +SKIP
...     server.base_url
'http://127.0.0.1:PORT/v1'
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

MODEL = "double-model"
COPY_BASE = "cp -rL base_model/. final_model/ && ls final_model"
"""The policy's one shell command: the base model becomes the checkpoint to grade."""
GRADE_MARK = "[grade]"
"""How the MCP server's final tool result marks the grade line."""

WAIT_TOOL, WAIT_READY = "WaitForMcpServers", "ready:"
"""Claude Code's tool that waits for MCP servers still connecting, and how its result starts."""

_ids = count(1)


@dataclass(frozen=True)
class Turn:
    """One request as the policy sees it, whatever the API it came through."""

    tools: list[str]
    """Names of the tools offered (the CLI's own names for them)."""
    tool_results: list[str]
    """Text of every tool result in the conversation, oldest first."""


@dataclass(frozen=True)
class Reply:
    """The policy's answer: text, or one tool call."""

    text: str = ""
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


Policy = Callable[[Turn], Reply]


def _tool_named(tools: list[str], name: str) -> str | None:
    """The offered tool that is the MCP server's ``name`` (``bash``, ``ptb-env_bash``, ...)."""
    for tool in tools:
        if tool == name or tool.endswith(("_" + name, "__" + name, "." + name)):
            return tool
    return None


def episode_policy(turn: Turn) -> Reply:
    """Copy the base model to ``final_model/``, submit, then say the grade; a plain text reply to
    any request without the episode's tools (a session title, a summary)."""
    bash, submit = _tool_named(turn.tools, "bash"), _tool_named(turn.tools, "submit")
    waits = [r for r in turn.tool_results if r.startswith(WAIT_READY)]
    if bash is None and WAIT_TOOL in turn.tools and len(waits) < 10:  # Claude Code: MCP still connecting
        return Reply(tool=WAIT_TOOL, args={})
    if bash is None or submit is None:
        return Reply(text="PostTrain episode")
    results = [r for r in turn.tool_results if not r.startswith(WAIT_READY)]
    turn = Turn(turn.tools, results)
    for result in turn.tool_results:
        grade = grade_of(result)
        if grade is not None:
            return Reply(text=f"Submitted. {grade}")
    if not turn.tool_results:
        return Reply(tool=bash, args={"command": COPY_BASE})
    if len(turn.tool_results) == 1:
        return Reply(tool=submit, args={})
    return Reply(text="Stopping: submit returned no grade.")


def grade_of(result: str) -> str | None:
    """The grade in a tool result: its ``[grade]`` line (the text content), or ``status S`` from the
    ``grade`` of the structured content (Codex CLI sends the model the latter); ``None``: no grade."""
    for line in result.splitlines():
        if line.startswith(GRADE_MARK):
            return line
    start = result.find("{")
    try:
        data = json.loads(result[start:]) if start >= 0 else None
    except ValueError:
        return None
    grade = data.get("grade") if isinstance(data, dict) else None
    return f"{GRADE_MARK} status {grade.get('status')}" if isinstance(grade, dict) else None


def _text_of(content: Any) -> str:
    """The text of a message's or tool output's content (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            _text_of(part.get("text", part.get("output", ""))) for part in content if isinstance(part, dict)
        )
    return "" if content is None else json.dumps(content)


def chat_turn(body: dict[str, Any]) -> Turn:
    """The :class:`Turn` of a chat-completions request."""
    tools = [t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"]
    results = [_text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"]
    return Turn(tools, results)


def responses_turn(body: dict[str, Any]) -> Turn:
    """The :class:`Turn` of a Responses API request."""
    tools = []
    for tool in body.get("tools") or []:
        if tool.get("type") == "function":
            tools.append(tool["name"])
        elif tool.get("type") == "namespace":  # Codex CLI: an MCP server's tools under one namespace
            tools += [
                f"{tool['name']}__{t['name']}" for t in tool.get("tools", []) if t.get("type") == "function"
            ]
    items = body.get("input") or []
    results = [
        _text_of(i.get("output"))
        for i in items
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    return Turn(tools, results)


def messages_turn(body: dict[str, Any]) -> Turn:
    """The :class:`Turn` of an Anthropic Messages request (Claude Code)."""
    tools = [t["name"] for t in body.get("tools") or [] if "name" in t]
    results = []
    for message in body.get("messages", []):
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                results.append(_text_of(block.get("content")))
    return Turn(tools, results)


@dataclass
class ModelServer:
    """The double; use it as a context manager (it serves from a thread until closed)."""

    policy: Policy = episode_policy
    requests: list[dict[str, Any]] = field(default_factory=list)
    """``{"method", "path", "body"}`` of every request, in arrival order."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server._log("GET", self.path, None)
                if self.path.split("?")[0].rstrip("/").endswith("/models"):
                    self._json(
                        200,
                        {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "double"}]},
                    )
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw or b"{}")
                server._log("POST", self.path, body)
                path = self.path.split("?")[0].rstrip("/")
                if path.endswith("/chat/completions"):
                    reply = server.policy(chat_turn(body))
                    if body.get("stream"):
                        self._sse(_chat_chunks(body, reply))
                    else:
                        self._json(200, _chat_completion(body, reply))
                elif path.endswith("/messages"):
                    reply = server.policy(messages_turn(body))
                    if body.get("stream"):
                        self._sse(_message_events(body, reply))
                    else:
                        self._json(200, _message(body, reply))
                elif path.endswith("/responses"):
                    reply = server.policy(responses_turn(body))
                    self._sse(_response_events(body, reply))
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: Iterator[str]) -> None:
                data = "".join(events).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _log(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body})

    def tool_results(self) -> list[str]:
        """Every tool result the CLI sent back, as the last model request with tools holds them."""
        for request in reversed(self.requests):
            body = request["body"] or {}
            path = request["path"].split("?")[0].rstrip("/")
            if path.endswith("/responses"):
                turn = responses_turn(body)
            elif path.endswith("/messages"):
                turn = messages_turn(body)
            else:
                turn = chat_turn(body)
            if turn.tool_results:
                return turn.tool_results
        return []

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _data(payload: dict[str, Any] | str, event: str | None = None) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def _chat_message(reply: Reply) -> dict[str, Any]:
    if reply.tool is None:
        return {"role": "assistant", "content": reply.text}
    call = {
        "id": f"call_m{next(_ids)}",
        "type": "function",
        "function": {"name": reply.tool, "arguments": json.dumps(reply.args)},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _chat_completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message = _chat_message(reply)
    finish = "tool_calls" if reply.tool else "stop"
    return {
        "id": f"chatcmpl-m{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _USAGE,
    }


def _chat_chunks(body: dict[str, Any], reply: Reply) -> Iterator[str]:
    head = {
        "id": f"chatcmpl-m{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
    }
    message = _chat_message(reply)
    delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
    if reply.tool:
        delta["tool_calls"] = [{"index": 0, **c} for c in message["tool_calls"]]
    yield _data({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    finish = "tool_calls" if reply.tool else "stop"
    yield _data({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    yield _data({**head, "choices": [], "usage": _USAGE})
    yield _data("[DONE]")


def _response_events(body: dict[str, Any], reply: Reply) -> Iterator[str]:
    rid = f"resp_m{next(_ids)}"
    response = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "model": body.get("model", MODEL),
        "status": "in_progress",
        "output": [],
    }
    yield _data({"type": "response.created", "response": response}, "response.created")
    if reply.tool is None:
        item: dict[str, Any] = {
            "type": "message",
            "id": f"msg_m{next(_ids)}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
        }
    else:
        item = {
            "type": "function_call",
            "id": f"fc_m{next(_ids)}",
            "call_id": f"call_m{next(_ids)}",
            "name": reply.tool,
            "arguments": json.dumps(reply.args),
            "status": "completed",
        }
        namespaces = {t["name"] for t in body.get("tools") or [] if t.get("type") == "namespace"}
        namespace, _, name = reply.tool.rpartition("__")
        if namespace in namespaces:
            item.update(namespace=namespace, name=name)
    yield _data(
        {"type": "response.output_item.added", "output_index": 0, "item": item}, "response.output_item.added"
    )
    yield _data(
        {"type": "response.output_item.done", "output_index": 0, "item": item}, "response.output_item.done"
    )
    usage = {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 18,
    }
    done = {**response, "status": "completed", "output": [item], "usage": usage}
    yield _data({"type": "response.completed", "response": done}, "response.completed")


def _content_block(reply: Reply) -> dict[str, Any]:
    if reply.tool is None:
        return {"type": "text", "text": reply.text}
    return {"type": "tool_use", "id": f"toolu_m{next(_ids)}", "name": reply.tool, "input": reply.args}


def _message(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": f"msg_m{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", MODEL),
        "content": [_content_block(reply)],
        "stop_reason": "tool_use" if reply.tool else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }


def _message_events(body: dict[str, Any], reply: Reply) -> Iterator[str]:
    message = _message(body, reply)
    block = message["content"][0]
    start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": 11, "output_tokens": 1}}
    yield _data({"type": "message_start", "message": start}, "message_start")
    if reply.tool is None:
        opened, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": reply.text}
    else:
        opened = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(reply.args)}
    yield _data({"type": "content_block_start", "index": 0, "content_block": opened}, "content_block_start")
    yield _data({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
    yield _data({"type": "content_block_stop", "index": 0}, "content_block_stop")
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield _data({"type": "message_delta", "delta": stop, "usage": {"output_tokens": 7}}, "message_delta")
    yield _data({"type": "message_stop"}, "message_stop")
