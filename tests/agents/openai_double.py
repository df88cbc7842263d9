"""A test double of an OpenAI-compatible chat server: real HTTP on 127.0.0.1, scripted replies.

It stands in for a model server (vLLM, a hosted API), which the CPU test machine
cannot run fast enough for most tests: it speaks the chat-completions protocol over
a real socket, so the ``openai`` client, its HTTP stack and the agent's error
handling are exercised for real. Only the model is scripted.

- ``POST /v1/chat/completions`` answers with the next item of the script: a message
  (``tool_call(...)``, ``text(...)``), ``Fail(status)`` (an HTTP error with an OpenAI
  error body), ``DROP`` (the connection is closed without a reply), or a callable
  ``request -> item``. An exhausted script answers HTTP 400 "script exhausted".
- ``GET /v1/models`` lists the one model ``MODEL``.
- Every chat request body is kept in ``server.requests`` (in arrival order).

>>> with ChatServer([text("hi")]) as server:  # doctest: +SKIP
...     server.base_url
'http://127.0.0.1:PORT/v1'
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

MODEL = "double-model"


@dataclass(frozen=True)
class Fail:
    """An HTTP error reply."""

    status: int = 500
    message: str = "injected failure"
    retry_after: float | None = None


class _Drop:
    """Close the connection without replying."""


DROP = _Drop()
_ids = count(1)


def tool_call(name: str, args: dict[str, Any] | str | None = None, call_id: str | None = None) -> dict:
    """One tool call (``args`` as a dict, or a raw string to send broken JSON; ``call_id=""``: no id)."""
    arguments = args if isinstance(args, str) else json.dumps(args or {})
    return {
        "id": f"call_d{next(_ids)}" if call_id is None else call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def tool_calls(*calls: dict) -> dict:
    """An assistant message with these tool calls."""
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def call(name: str, args: dict[str, Any] | str | None = None, call_id: str | None = None) -> dict:
    """An assistant message with one tool call."""
    return tool_calls(tool_call(name, args, call_id))


def text(content: str) -> dict:
    """An assistant message without a tool call."""
    return {"role": "assistant", "content": content}


Item = dict | Fail | _Drop | Callable[[dict], Any]


@dataclass
class ChatServer:
    """The double; use it as a context manager (it serves from a thread until closed)."""

    script: Iterable[Item] = ()
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7})
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Chat request bodies, in arrival order (failed ones included)."""

    def __post_init__(self) -> None:
        self._script = iter(self.script)
        self._lock = threading.Lock()
        self.times: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                item = server._next(body)
                if isinstance(item, _Drop):
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(item, Fail):
                    headers = {"Retry-After": str(item.retry_after)} if item.retry_after is not None else {}
                    error = {"message": item.message, "type": "error", "code": item.status}
                    self._json(item.status, {"error": error}, headers)
                    return
                self._json(200, server._completion(body, item))

            def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
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

    def _next(self, body: dict[str, Any]) -> Item:
        with self._lock:
            self.requests.append(body)
            self.times.append(time.monotonic())
            item = next(self._script, None)
        if item is None:
            return Fail(400, f"test double: script exhausted after {len(self.requests) - 1} replies")
        while callable(item):
            item = item(body)
        return item

    def _completion(self, body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        usage = {**self.usage, "total_tokens": sum(self.usage.values())}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
