"""``ptb-env serve``: PostTrain episodes behind an OpenEnv server, one episode per WebSocket session.

Trainers run the env in another process or on another machine: the server is OpenEnv's own
(``openenv.core.env_server``, from the ``openenv-core`` distribution), so any OpenEnv client
speaks to it, and :class:`ptb_env.remote.RemotePostTrainEnv` keeps the Gymnasium API on the
trainer's side.

- ``/ws``: one WebSocket connection is one session, with its own :class:`PostTrainEnv`,
  workspace and sandbox (``max_concurrent_envs`` at most; more are refused with
  ``CAPACITY_REACHED``). Messages: ``reset`` (``{"seed": ...}``), ``step``
  (:class:`PostTrainAction`), ``state``, ``close``. ``step`` has the env's own semantics (an
  unknown tool or bad arguments is a step with an error, as in-process); a step after the end
  of an episode is an error reply.
- Observations (:class:`PostTrainObservation`) carry the text a policy reads
  (:func:`~ptb_env.integrations.trl.tool_message`, the grade appended at the end) and the same
  outcome as data: the gym observation's fields, the tool's typed result, ``info``, and the
  graded ``EpisodeResult`` once the episode is over; JSON-safe (``None`` for an unlimited
  budget or a dev score not measured yet).
- ``/health``, ``/schema``, ``/metadata``: OpenEnv's. The stateless HTTP ``/reset`` and
  ``/step`` (a fresh env per request) are not served (OpenEnv's production mode): an episode
  lives only in a session.
- ``/mcp`` (WebSocket, or ``POST`` with OpenEnv's ``openenv/session/create`` id) and ``/ws``'s
  ``mcp`` messages: OpenEnv's MCP dialect (JSON-RPC ``tools/list``, ``tools/call``) on the
  session's episode, with the env's own tool schemas; the first tool call starts the episode,
  and a result is MCP's ``CallToolResult`` (the reply of
  :meth:`~ptb_env.integrations.mcp_server.MCPEpisode.call`). A stateless ``tools/call`` (no
  session) is refused.
- A bearer token (``Authorization: Bearer TOKEN``) is required on every route but ``/health``
  when one is set, and one must be set to bind anything but loopback.
- A session idle (no reset or step) for ``idle_timeout_s`` is closed: its episode is
  discarded, not graded (its processes killed, its workspace removed); the connection stays
  open and every later message is an error reply. A client that disconnects has its episode
  discarded the same way.

Each session's env calls run in one thread for the session's life (its
:class:`~ptb_env.integrations.mcp_server.EnvThread`): the sandbox's processes die with the
thread that started them.

>>> from ptb_env.integrations.openenv_server import serve  # doctest: +SKIP
>>> serve("tiny-arith", port=8000, budget="compute")  # doctest: +SKIP

The OpenEnv package (``pip install "ptb-env[serve]"``) is imported lazily.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ptb_env.errors import PtbEnvError
from ptb_env.integrations.mcp_server import EnvThread, MCPEpisode, json_safe
from ptb_env.rollout import EpisodeResult
from ptb_env.tasks import DEFAULT_TASK

try:
    from openenv.core.env_server import Action, Environment, HTTPEnvServer, Observation, State
    from openenv.core.env_server.types import EnvironmentMetadata
except ImportError as err:  # pragma: no cover - the message names the extra
    raise ImportError('ptb-env serve needs OpenEnv: pip install "ptb-env[serve]"') from err

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVE_INSTALL = 'pip install "ptb-env[serve]"'
TOKEN_ENV = "PTB_ENV_TOKEN"
"""The environment variable ``ptb-env serve`` reads its bearer token from (``--token`` wins)."""
DEFAULT_IDLE_TIMEOUT_S = 900.0
"""Seconds without a reset or step after which a session is closed and its episode discarded."""
READ_AHEAD = 64
"""Messages of a WebSocket read ahead of OpenEnv's handler at most (more wait in the socket)."""
OPEN_PATHS = ("/health",)
"""Routes served without the token."""
_Scope = MutableMapping[str, Any]
_ASGI = Callable[[_Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class SessionClosed(PtbEnvError, RuntimeError):
    """The session's episode was closed (idle past the timeout, or the client left): discarded."""


class PostTrainAction(Action):
    """One tool call: ``tool`` and ``args``, or the whole call as a JSON string in ``call``."""

    tool: str = Field(default="", description="The tool's name (bash, train, submit, ...).")
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")
    call: str | None = Field(
        default=None,
        description='The whole call as JSON ({"tool": ..., "args": ...}), passed to env.step as is; '
        "wins over tool and args.",
    )

    def env_action(self) -> dict[str, Any] | str:
        """The action ``PostTrainEnv.step`` takes."""
        return self.call if self.call is not None else {"tool": self.tool, "args": self.args}


class PostTrainObservation(Observation):
    """What a reset or step returns (``done`` and ``reward`` are OpenEnv's own fields)."""

    text: str = Field(default="", description="What a policy reads: the tool message, or the task card.")
    output: str = Field(default="", description="The gym observation's output.")
    workspace: str = Field(default="", description="The gym observation's workspace summary.")
    error: str = Field(default="", description="Why the last call failed ('' when it did not).")
    budget: dict[str, float | None] = Field(default_factory=dict, description="Budget left (None: no limit).")
    best_dev_score: float | None = Field(default=None, description="None before the first evaluate.")
    last_dev_score: float | None = Field(default=None, description="None before the first evaluate.")
    result: dict[str, Any] = Field(default_factory=dict, description="The tool's typed result.")
    terminated: bool = Field(default=False, description="The agent submitted.")
    truncated: bool = Field(default=False, description="A budget ran out.")
    info: dict[str, Any] = Field(default_factory=dict, description="The env's info, JSON-safe.")
    grade: dict[str, Any] | None = Field(default=None, description="The EpisodeResult once graded.")


class PostTrainSession(Environment[PostTrainAction, PostTrainObservation, State]):
    """One session's episode: an :class:`~ptb_env.integrations.mcp_server.MCPEpisode`.

    Trainers reset and step it (``/ws``); agents call its tools over OpenEnv's MCP routes
    (``mcp_server``: ``tools/list``, ``tools/call``), where the first tool call starts the episode
    (the env draws the seed). Every env call of the session (reset, steps, tool calls, close)
    runs in the session's own :class:`~ptb_env.integrations.mcp_server.EnvThread`: the sandbox's
    processes are tied to the thread that started them.

    Args:
        task: Task id.
        **env_kwargs: Keywords of ``PostTrainEnv`` (``budget``, ``workspace_root``, ...); a grader
            failure is reported as an ``infra_error`` grade unless ``on_grader_error`` says otherwise.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, task: str = DEFAULT_TASK, **env_kwargs: Any) -> None:
        super().__init__()
        self.task = task
        self.episode = MCPEpisode(task, agent="openenv", **env_kwargs)
        self.thread = EnvThread(name="ptb-env-session")
        self.closed = False
        self._closing = threading.Lock()
        self.session_id: str | None = None
        """OpenEnv's id of the session that owns this env (``None``: a stateless request's env)."""
        self.mcp_server = _SessionTools(self)
        """The tools, as OpenEnv's MCP routes look them up (``get_tools``)."""
        self._state = State(episode_id=None, step_count=0, task=task, over=False)

    def reset(
        self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any
    ) -> PostTrainObservation:
        """Start an episode: a fresh workspace and sandbox, the full budget."""
        self._check_open()
        obs, info = self.thread.call(partial(self._start, seed), give_up=self._is_closed)
        self._state = State(
            episode_id=episode_id or str(info.get("episode_id")), step_count=0, task=self.task, over=False
        )
        return self._observation(obs, info, text=self.episode.task_card)

    def _start(self, seed: int | None) -> tuple[Any, dict[str, Any]]:
        self.episode.seed = seed
        obs, info = self.episode.start()
        return obs, info

    def step(
        self, action: PostTrainAction, timeout_s: float | None = None, **kwargs: Any
    ) -> PostTrainObservation:
        """One ``env.step``; the last step (``submit`` or the budget's end) carries the grade.

        Raises:
            SessionClosed: No episode was started in this session, or it was discarded.
            EpisodeNotRunning: The episode is over (the message repeats the grade).
        """
        self._check_open()
        if not self.episode.started:
            raise SessionClosed("No episode is running in this session: send reset first.")
        done = self.thread.call(partial(self.episode.step, action.env_action()), give_up=self._is_closed)
        self._count_step(over=done.terminated or done.truncated)
        return self._observation(
            done.obs,
            done.info,
            text=done.text,
            reward=done.reward,
            terminated=done.terminated,
            truncated=done.truncated,
            grade=done.record,
        )

    async def call_tool(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """One tool call from OpenEnv's MCP routes, as MCP's ``CallToolResult`` (``content``,
        ``structuredContent``, ``isError``); the first one starts the episode.

        Raises:
            SessionClosed: A stateless request (no session owns this env), or the session was
                discarded.
        """
        if self.session_id is None:
            raise SessionClosed(
                "A stateless /mcp request has no episode: open a session first (the /mcp WebSocket, "
                "or openenv/session/create and its session_id in every call's params)."
            )
        self._check_open()

        def call() -> Any:
            if not self.episode.started:
                self.episode.start()
            return self.episode.call(tool, args)

        reply = await self.thread.run(call)
        self._count_step(over=self.episode.record is not None)
        return {
            "content": [{"type": "text", "text": reply.text}],
            "structuredContent": reply.data,
            "isError": reply.is_error,
        }

    def _count_step(self, *, over: bool) -> None:
        steps = self._state.step_count + 1
        self._state = State(episode_id=self._state.episode_id, step_count=steps, task=self.task, over=over)

    def _observation(
        self,
        obs: Any,
        info: dict[str, Any],
        *,
        text: str,
        reward: float | None = None,
        terminated: bool = False,
        truncated: bool = False,
        grade: EpisodeResult | None = None,
    ) -> PostTrainObservation:
        return PostTrainObservation(
            done=terminated or truncated,
            reward=reward,
            text=text,
            output=obs["output"],
            workspace=obs["workspace"],
            error=obs["error"],
            budget=json_safe({k: float(v) for k, v in obs["budget"].items()}),
            best_dev_score=_finite(obs["best_dev_score"]),
            last_dev_score=_finite(obs["last_dev_score"]),
            result=json_safe(info.get("result", {})),
            terminated=terminated,
            truncated=truncated,
            info=json_safe(info),
            grade=None if grade is None else json_safe(grade.to_dict()),
        )

    @property
    def state(self) -> State:
        """Episode id, steps so far, the task, whether the episode is over."""
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        """The task's name and version; the task card as the readme."""
        import ptb_env

        return EnvironmentMetadata(
            name=f"PostTrain {self.task}",
            description=f"PostTrain-v0 episodes of task {self.task}: post-train its base model, then submit.",
            readme_content=self.episode.task_card,
            version=ptb_env.__version__,
        )

    def _is_closed(self) -> bool:
        return self.closed

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosed(
                "This session's episode was closed (idle past the server's timeout) and discarded, "
                "not graded; open a new session."
            )

    def close(self) -> None:
        """Kill the episode's processes and remove its workspace (idempotent; safe from any thread,
        also while a step is in flight, which then ends with the sandbox)."""
        with self._closing:
            if self.closed:
                return
            self.closed = True
        self.episode.close()
        self.thread.stop()


@dataclass(frozen=True)
class _Tool:
    """One tool as OpenEnv's MCP routes read a FastMCP tool: name, description, schema, ``fn``."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Awaitable[dict[str, Any]]]


class _SessionTools:
    """A session's tools in the shape OpenEnv's ``get_server_tools`` looks up (``get_tools``): the
    env's own schemas; each call is :meth:`PostTrainSession.call_tool`."""

    def __init__(self, session: PostTrainSession) -> None:
        self._tools = {
            s["name"]: _Tool(s["name"], s["description"], s["parameters"], _caller(session, s["name"]))
            for s in session.episode.tool_schemas()
        }

    async def get_tools(self) -> dict[str, _Tool]:
        return dict(self._tools)


def _caller(session: PostTrainSession, tool: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``tool``'s ``fn``: OpenEnv calls it with the client's arguments as keywords, whatever their names."""

    async def call(**args: Any) -> dict[str, Any]:
        return await session.call_tool(tool, args)

    return call


_ON_DISCONNECT: ContextVar[list[Callable[[], None]] | None] = ContextVar("_ON_DISCONNECT", default=None)
"""What to close when the current WebSocket's client leaves (set by :class:`Gate` per connection)."""


class _Server(HTTPEnvServer):
    """OpenEnv's server; each session's env learns its session id (a stateless request's env has
    none, so its tool calls are refused rather than played on a workspace removed at once)."""

    async def _create_session(self) -> tuple[str, Environment | None]:
        session_id, env = await super()._create_session()
        if isinstance(env, PostTrainSession):
            env.session_id = session_id
            on_disconnect = _ON_DISCONNECT.get()
            if on_disconnect is not None:  # a WebSocket session: it ends when its client leaves
                on_disconnect.append(env.close)
        return session_id, env


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Gate:
    """ASGI middleware in front of the OpenEnv app.

    With a ``token``, every HTTP request and WebSocket handshake must carry ``Bearer <token>``
    (but those to :data:`OPEN_PATHS`); others get 401 (HTTP) or a refused handshake (403). A
    WebSocket's client leaving closes its sessions at once, even mid-step (see
    :meth:`_watched`). It also drops the ``WebSocketDisconnect`` that OpenEnv's ``/ws`` handler
    raises when it closes a socket the client already closed (the session is destroyed before
    that; only a traceback in the log would remain).
    """

    def __init__(self, app: _ASGI, token: str | None = None) -> None:
        self.app = app
        self._want = f"Bearer {token}".encode() if token else None

    async def __call__(
        self, scope: _Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        from starlette.websockets import WebSocketDisconnect

        kind = scope["type"]
        if self._want is not None and kind in ("http", "websocket") and scope.get("path") not in OPEN_PATHS:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._want):
                if kind == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "bad or missing token"})
                    return
                body = b'{"detail": "Missing or wrong bearer token (Authorization: Bearer TOKEN)."}'
                headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        if kind != "websocket":
            await self.app(scope, receive, send)
            return
        try:
            await self._watched(scope, receive, send)
        except WebSocketDisconnect:
            pass

    async def _watched(
        self, scope: _Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        """Serve a WebSocket while reading its messages ahead: OpenEnv's handler reads the next one
        only after a step, so a client that left mid-step would hold its session (sandbox,
        workspace, a slot of ``max_concurrent_envs``) until the step ends. The client leaving
        closes the connection's sessions at once; the step in flight ends with its sandbox."""
        import asyncio

        inbox: asyncio.Queue[Any] = asyncio.Queue(maxsize=READ_AHEAD)  # a flood waits, as unread
        sessions: list[Callable[[], None]] = []

        async def read_ahead() -> None:
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "websocket.disconnect":
                    for close in sessions:
                        await asyncio.to_thread(close)
                    return

        reader = asyncio.create_task(read_ahead())
        token = _ON_DISCONNECT.set(sessions)
        try:
            await self.app(scope, inbox.get, send)
        finally:
            _ON_DISCONNECT.reset(token)
            reader.cancel()


def create_server_app(
    task: str = DEFAULT_TASK,
    *,
    max_concurrent_envs: int = 2,
    idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
    **env_kwargs: Any,
) -> FastAPI:
    """The OpenEnv FastAPI app serving episodes of ``task`` (no token check: see :func:`serve`).

    Args:
        task: Task id.
        max_concurrent_envs: Sessions (episodes) at once.
        idle_timeout_s: Seconds without a reset or step before a session is closed and its
            episode discarded (``None``: never).
        **env_kwargs: Keywords of ``PostTrainEnv``.
    """
    from fastapi import FastAPI
    from openenv.core.env_server import ConcurrencyConfig, ServerMode

    import ptb_env

    config = ConcurrencyConfig(max_concurrent_envs=max_concurrent_envs, session_timeout=idle_timeout_s)
    app = FastAPI(
        title="PostTrain episodes (OpenEnv)",
        version=ptb_env.__version__,
        description=f"PostTrain-v0 episodes of task {task}, one per WebSocket session at /ws.",
    )
    factory = partial(PostTrainSession, task, **env_kwargs)
    server = _Server(factory, PostTrainAction, PostTrainObservation, concurrency_config=config)
    server.register_routes(app, mode=ServerMode.PRODUCTION)
    return app


def serve(
    task: str = DEFAULT_TASK,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_concurrent_envs: int = 2,
    idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
    log_level: str = "info",
    **env_kwargs: Any,
) -> int:
    """Serve episodes of ``task`` on ``host:port`` until SIGINT or SIGTERM; returns the exit status.

    Raises:
        ValueError: ``host`` is not loopback and no ``token`` is given, or a bad task or keyword
            (one env is built, then closed, before the server starts).
    """
    if not token and not is_loopback(host):
        raise ValueError(
            f"Refusing to serve on {host} without a bearer token: anyone who reaches the port could "
            f"run code in the sandbox. Pass --token TOKEN or set {TOKEN_ENV}, or bind 127.0.0.1."
        )
    try:
        import uvicorn
    except ImportError as err:
        raise ImportError(f"ptb-env serve needs uvicorn: {SERVE_INSTALL}") from err
    from ptb_env.env import PostTrainEnv

    kwargs = {"on_grader_error": "report", **env_kwargs}
    PostTrainEnv(task, **kwargs).close()  # a bad task or keyword fails here, not in every session
    app = create_server_app(
        task, max_concurrent_envs=max_concurrent_envs, idle_timeout_s=idle_timeout_s, **kwargs
    )
    uvicorn.run(Gate(app, token), host=host, port=port, log_level=log_level, ws_max_size=64 * 2**20)
    return 0
