"""``ptb-env mcp``: one PostTrain episode served as an MCP server over stdio.

A coding-agent CLI (or any MCP client) starts ``ptb-env mcp --task ID`` as a subprocess
and plays one episode through it:

- the tools are the env's own tools, with the env's JSON schemas and descriptions
  (``PostTrainEnv.tool_schemas``: one source, nothing retyped);
- the task card is the server's ``instructions``, the resource ``ptb-env://task-card`` and
  the prompt ``task``;
- every tool call is one ``env.step``. The result's text is the observation as a policy reads
  it (:func:`ptb_env.integrations.trl.tool_message`: output, error, budget left); its
  ``structuredContent`` is the same outcome as data (``result``: ``info["result"]``,
  ``budget``, ``best_dev_score``, ``over``; ``grade`` once graded). A call the env refuses
  (bad arguments) or that failed is a result with ``isError``; a tool the server does not
  have is a protocol error (``INVALID_PARAMS``) and costs no budget. A ``null`` argument
  means "not given", as in the TRL adapter;
- ``submit``, or the budget running out, grades the episode: the result carries the reward,
  score, status and reason (an ``EpisodeResult`` under ``grade``); every later call is an
  error result that repeats the grade.

One process is one episode. The end of stdin (the client left or died), SIGTERM, SIGINT and
SIGHUP close the env: its processes are killed and its workspace removed. While the server
runs, stdout carries the JSON-RPC stream only: the SDK points file descriptor 1 at stderr
before the episode starts, so the sandbox, its jobs and any stray print write there, and logs
go to stderr.

>>> from ptb_env.integrations.mcp_server import serve  # doctest: +SKIP
>>> serve("tiny-arith-short", seed=0, budget="compute")  # doctest: +SKIP

The MCP SDK (``pip install "ptb-env[mcp]"``) is imported lazily: :class:`MCPEpisode`, the
episode behind the server, does not need it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ptb_env.errors import EpisodeNotRunning, PtbEnvError
from ptb_env.integrations.trl import tool_message
from ptb_env.observations import MAX_OUTPUT_CHARS
from ptb_env.rollout import EpisodeResult
from ptb_env.tasks import DEFAULT_TASK

if TYPE_CHECKING:
    from mcp.server import Server

    from ptb_env.env import PostTrainEnv

MCP_INSTALL = 'pip install "ptb-env[mcp]"'
SERVER_NAME = "ptb-env"
CARD_URI = "ptb-env://task-card"
"""The resource that holds the task card (the workspace's ``TASK.md``)."""
PROMPT_NAME = "task"
PROMPT_INTRO = (
    "Post-train the base model described below, using only the tools of this MCP server. When the "
    "checkpoint you want graded is in final_model/, call submit."
)
"""What the prompt ``task`` says before the task card."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""Signals that close the episode and end the server."""
_T = TypeVar("_T")


class UnknownTool(PtbEnvError, ValueError):
    """A tool name the env does not have (the message names the tools and the closest one)."""


@dataclass(frozen=True)
class ToolReply:
    """What one tool call returns to the client."""

    text: str
    """The observation as a policy reads it: output, error, budget left; the grade at the end."""
    is_error: bool
    """The env refused or failed the call (the error is in ``text``), or the episode is over."""
    data: dict[str, Any] = field(default_factory=dict)
    """The same outcome for code, JSON-safe (non-finite numbers are ``None``)."""


@dataclass(frozen=True)
class EpisodeStep:
    """One ``env.step`` of an :class:`MCPEpisode`: what the env returned, and the text a policy reads."""

    obs: Mapping[str, Any]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    text: str
    """The observation as a policy reads it (:func:`~ptb_env.integrations.trl.tool_message`), the
    grade line appended once graded."""
    record: EpisodeResult | None
    """The graded episode (``None`` but on the last step)."""

    def reply(self) -> ToolReply:
        """The step as a tool call's reply (``data``: result, budget, best dev score, over, grade)."""
        data: dict[str, Any] = {
            "result": self.info.get("result", {}),
            "budget": {k: float(v) for k, v in self.obs["budget"].items()},
            "best_dev_score": float(self.obs["best_dev_score"]),
            "over": self.terminated or self.truncated,
        }
        if self.record is not None:
            data["grade"] = self.record.to_dict()
        return ToolReply(self.text, bool(self.obs["error"]), json_safe(data))


class MCPEpisode:
    """The episode behind a tool-call server: tool calls in, :class:`ToolReply` out; no MCP types.

    ``ptb-env mcp`` serves one; each session of ``ptb-env serve`` is one.

    Args:
        task: Task id.
        seed: Seed of ``env.reset``.
        max_output_chars: Characters of a tool's output shown (head and tail; default: the
            observation's own limit, so nothing more is cut).
        agent: The agent named in the graded record.
        **env_kwargs: Keywords of ``PostTrainEnv`` (``time_limit_s``, ``budget``,
            ``workspace_root``, ``sandbox``, ...); a grader failure is reported as an
            ``infra_error`` grade unless ``on_grader_error`` says otherwise.

    Building it builds the env (a bad task id or keyword fails here); :meth:`start` resets it,
    :meth:`call` (a tool by name) or :meth:`step` (an action as ``env.step`` takes it) steps it,
    :meth:`close` releases it. One call at a time (a lock enforces it); :meth:`close` may run
    while a call is in flight, which then ends with the sandbox.
    """

    def __init__(
        self,
        task: str = DEFAULT_TASK,
        *,
        seed: int | None = None,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        agent: str = "mcp",
        **env_kwargs: Any,
    ) -> None:
        from ptb_env.env import PostTrainEnv

        if max_output_chars < 100:
            raise ValueError(f"Expect max_output_chars >= 100, actually got {max_output_chars}.")
        env_kwargs.setdefault("on_grader_error", "report")
        self.env: PostTrainEnv = PostTrainEnv(task, **env_kwargs)
        self.seed = seed
        self.max_output_chars = max_output_chars
        self.agent = agent
        self.record: EpisodeResult | None = None
        """The graded episode's record (``None`` until ``submit`` or the budget's end)."""
        self._running = False
        self._return = 0.0
        self._steps = 0
        self._t0 = 0.0
        self._lock = threading.Lock()

    @property
    def task_card(self) -> str:
        """The task card (the workspace's ``TASK.md``)."""
        return self.env.task_card

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran (the episode may be over since)."""
        return self._running or self.record is not None

    def tool_schemas(self) -> list[dict[str, Any]]:
        """``name``, ``description`` and ``parameters`` (JSON schema) of each tool, as the env exports."""
        return [schema["function"] for schema in self.env.tool_schemas]

    def start(self) -> tuple[Any, dict[str, Any]]:
        """Reset the env: a fresh workspace and sandbox, the full budget; returns ``env.reset``'s."""
        out = self.env.reset(seed=self.seed)
        self._running, self._return, self._steps, self.record = True, 0.0, 0, None
        self._t0 = time.perf_counter()
        return out

    def call(self, tool: str, args: Mapping[str, Any] | None = None) -> ToolReply:
        """Run ``tool`` with ``args`` as one ``env.step`` (a ``None`` argument is not given).

        After the episode's end, every call is an error reply that repeats the grade.

        Raises:
            UnknownTool: ``tool`` is not one of the env's tools (nothing runs, no budget is spent).
            EpisodeNotRunning: :meth:`start` was not called, or the episode was closed.
        """
        if tool not in self.env.tools:
            _, why = self.env.runner.parse({"tool": tool})
            raise UnknownTool(why)
        if self.record is not None:
            return self._over()
        given = {k: v for k, v in (args or {}).items() if v is not None}
        try:
            return self.step({"tool": tool, "args": given}).reply()
        except EpisodeNotRunning:
            if self.record is not None:  # another call ended the episode meanwhile
                return self._over()
            raise

    def step(self, action: Any) -> EpisodeStep:
        """One ``env.step(action)``, with the env's own semantics (a malformed action or unknown tool
        is a step with an error); the last one carries the graded record.

        Raises:
            EpisodeNotRunning: :meth:`start` was not called, the episode was closed, or it is over
                (the message repeats the grade).
        """
        with self._lock:
            if self.record is not None:
                raise EpisodeNotRunning(self._over().text)
            if not self._running:
                raise EpisodeNotRunning("The episode is not running: call start() first.")
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._steps += 1
            self._return += reward
            over = None
            if terminated or truncated:
                self._running = False
                over = _why_over(terminated)
                self.record = EpisodeResult.from_info(
                    info,
                    agent=self.agent,
                    task=self.env.task.id,
                    seed=self.seed,
                    reward=self._return,
                    steps=self._steps,
                    seconds=time.perf_counter() - self._t0,
                    terminated=terminated,
                    truncated=truncated,
                )
            best = float(obs["best_dev_score"])
            text = tool_message(obs["output"], obs["error"], obs["budget"], best, over, self.max_output_chars)
            if self.record is not None:
                text += "\n" + grade_text(self.record)
            return EpisodeStep(obs, float(reward), terminated, truncated, info, text, self.record)

    def _over(self) -> ToolReply:
        assert self.record is not None
        why = _why_over(self.record.terminated)
        text = f"The episode is over ({why}) and graded; no tool runs any more.\n{grade_text(self.record)}"
        return ToolReply(text, True, json_safe({"over": True, "grade": self.record.to_dict()}))

    def close(self) -> None:
        """Kill the episode's processes and remove its workspace (idempotent)."""
        self._running = False
        self.env.close()


def _why_over(submitted: bool) -> str:
    """Why an episode ended, as :func:`~ptb_env.integrations.trl.tool_message` says it."""
    return "you submitted" if submitted else "the budget ran out"


def grade_text(record: EpisodeResult) -> str:
    """One line on a graded episode: reward, score against the base model's, status, reason."""
    text = (
        f"[grade] reward {record.reward:+.4f}: test score {record.score:.4f} against the base model's "
        f"{record.base_score:.4f}; status {record.status}"
    )
    return text + (f" ({record.reason})" if record.reason else "")


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: mappings, lists, strings, finite numbers, booleans, ``None``
    (non-finite numbers become ``None``; numpy values their Python twins; anything else a string)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def build_server(episode: MCPEpisode, env_thread: EnvThread) -> Server[Any]:
    """The MCP server of ``episode`` (started in ``env_thread``): its tools, the task card, one step
    per call, run in ``env_thread``."""
    from mcp import types
    from mcp.server import Server, ServerRequestContext
    from mcp.shared.exceptions import MCPError

    import ptb_env

    tools = [
        types.Tool(name=s["name"], description=s["description"], input_schema=s["parameters"])
        for s in episode.tool_schemas()
    ]
    card, task = episode.task_card, episode.env.task.id
    steps = asyncio.Lock()  # one tool call at a time, in the order they came

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        async with steps:
            try:
                reply = await env_thread.run(lambda: episode.call(params.name, params.arguments))
            except UnknownTool as err:
                raise MCPError(types.INVALID_PARAMS, str(err)) from None
        content: list[types.ContentBlock] = [types.TextContent(text=reply.text)]
        return types.CallToolResult(content=content, structured_content=reply.data, is_error=reply.is_error)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        resource = types.Resource(
            uri=CARD_URI,
            name="TASK.md",
            description="The task card: base model, benchmark, budget, rules, tools (also the instructions).",
            mime_type="text/markdown",
        )
        return types.ListResourcesResult(resources=[resource])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        if str(params.uri) != CARD_URI:
            why = f"Unknown resource {str(params.uri)!r}; this server has {CARD_URI}."
            raise MCPError(types.INVALID_PARAMS, why)
        contents = types.TextResourceContents(uri=CARD_URI, text=card, mime_type="text/markdown")
        return types.ReadResourceResult(contents=[contents])

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompt = types.Prompt(name=PROMPT_NAME, description="The task card as a user message.")
        return types.ListPromptsResult(prompts=[prompt])

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != PROMPT_NAME:
            why = f"Unknown prompt {params.name!r}; this server has {PROMPT_NAME!r}."
            raise MCPError(types.INVALID_PARAMS, why)
        text = types.TextContent(text=f"{PROMPT_INTRO}\n\n{card}")
        message = types.PromptMessage(role="user", content=text)
        return types.GetPromptResult(description=f"Post-train for {task}", messages=[message])

    return Server(
        SERVER_NAME,
        version=ptb_env.__version__,
        title="PostTrain episode",
        description=f"One PostTrain episode of task {task}: post-train its base model, then submit.",
        instructions=card,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def serve(task: str = DEFAULT_TASK, *, seed: int | None = None, **kwargs: Any) -> int:
    """Serve one episode of ``task`` over stdio until the client leaves or a stop signal comes.

    ``kwargs`` go to :class:`MCPEpisode` (``max_output_chars`` and the env's keywords). The
    episode is closed on every way out. Returns the exit status: 0 when stdin ended; a stop
    signal ends the process at once (``os._exit(128 + signal)``) once the episode is closed,
    since the SDK's stdin reader cannot be interrupted.
    """
    try:
        import anyio
        from mcp.server.stdio import stdio_server
    except ImportError as err:
        raise ImportError(f"ptb-env mcp needs the MCP SDK: {MCP_INSTALL}") from err
    episode = MCPEpisode(task, seed=seed, **kwargs)

    def stop(signum: int, frame: object) -> None:
        episode.close()
        sys.stderr.flush()
        os._exit(128 + signum)

    env_thread = EnvThread()
    failed: list[Exception] = []

    async def run() -> None:
        async with stdio_server() as (read, write):  # from here on, fd 1 is stderr for all but the wire
            try:
                await env_thread.run(episode.start)
            except Exception as err:
                failed.append(err)  # re-raised below as itself, not inside the SDK's exception group
                raise
            server = build_server(episode, env_thread)
            await server.run(ParseErrorReplies(read, write), write, server.create_initialization_options())

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        anyio.run(run)
    except Exception:
        if failed:
            raise failed[0] from None
        raise
    finally:
        episode.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


class ParseErrorReplies:
    """The stdio transport's read stream, answering each line it could not parse.

    The SDK's stdio transport hands a line that is not a JSON-RPC message to the server as an
    exception, which the server only logs: the client would wait for a reply that never comes.
    This stream answers it on the wire instead, as JSON-RPC 2.0 asks: an error ``-32700`` (parse
    error) with id ``null``, naming what was wrong. Everything else passes through.
    """

    def __init__(self, read: Any, write: Any) -> None:
        self._read, self._write = read, write

    @property
    def last_context(self) -> Any:
        """The sender's context of the last item (the SDK's context-aware streams carry one)."""
        return getattr(self._read, "last_context", None)

    async def receive(self) -> Any:
        from mcp import types
        from mcp.shared.message import SessionMessage

        while True:
            item = await self._read.receive()
            if not isinstance(item, Exception):
                return item
            why = str(item).splitlines()[0] if str(item) else type(item).__name__
            error = types.ErrorData(
                code=types.PARSE_ERROR, message=f"Parse error: not a JSON-RPC message ({why})"
            )
            await self._write.send(SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=error)))

    async def aclose(self) -> None:
        await self._read.aclose()

    def __aiter__(self) -> ParseErrorReplies:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> ParseErrorReplies:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class EnvThread:
    """The one thread that runs every env call (reset, steps, close) of an episode.

    One thread, not one per call: the sandbox's processes die with the thread that started them
    (bubblewrap's ``--die-with-parent`` is the parent *thread*'s death signal), and a step may
    restart the shell. A daemon thread: a step still running when the server ends (its episode
    closed under it) does not hold the process's exit up. :meth:`stop` ends it once the calls
    already given have run.
    """

    def __init__(self, name: str = "ptb-env-mcp-env") -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def _put(self, job: Callable[[], None]) -> None:
        if self._stopped:
            raise EpisodeNotRunning("The episode's thread was stopped: the episode is closed.")
        self._jobs.put(job)

    def stop(self) -> None:
        """End the thread after the calls already given (idempotent); later calls raise."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)

    def call(self, fn: Callable[[], _T], give_up: Callable[[], bool] | None = None) -> _T:
        """``fn()`` in the env thread, waited for from another thread; its exception is raised here.

        Raises:
            EpisodeNotRunning: ``give_up()`` came true while waiting (checked every 0.2 s); the
                call goes on in the env thread, unwaited for.
        """
        if threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def job() -> None:
            try:
                future.set_result(fn())
            except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(err)

        self._put(job)
        while True:
            try:
                return future.result(timeout=None if give_up is None else 0.2)
            except concurrent.futures.TimeoutError:
                if give_up is not None and give_up():
                    raise EpisodeNotRunning("The episode was closed while this call ran.") from None

    async def run(self, fn: Callable[[], _T]) -> _T:
        """``fn()`` in the env thread, awaited (a cancelled wait leaves the call to finish there)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()

        def settle(value: Any, error: BaseException | None) -> None:
            if future.done():  # the awaiting request was cancelled
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

        def job() -> None:
            value, error = None, None
            try:
                value = fn()
            except BaseException as err:  # noqa: BLE001 - handed to the awaiting task
                error = err
            try:
                loop.call_soon_threadsafe(settle, value, error)
            except RuntimeError:  # the loop is closed: nobody waits for this call any more
                pass

        self._put(job)
        return await future
