"""The MCP server (``ptb-env mcp``): the env's tools and card over stdio, one episode per process.

Each test starts the server as a client would, ``python -m ptb_env.cli mcp ...``, and talks to it
with the official SDK's stdio client (or, to watch the process itself, raw JSON-RPC lines).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from wire_plan import SEED, TASK, drive_async, episodes, in_process, processes, wait_until  # noqa: E402

from ptb_env.env import PostTrainEnv  # noqa: E402
from ptb_env.integrations.mcp_server import CARD_URI, PROMPT_NAME  # noqa: E402
from ptb_env.tasks import get_task  # noqa: E402


def _server_args(ws_root: Path) -> list[str]:
    return ["-m", "ptb_env.cli", "mcp", "--task", TASK, "--seed", str(SEED), "--budget", "compute",
            "--workspace-root", str(ws_root)]  # fmt: skip


@asynccontextmanager
async def _session(ws_root: Path) -> AsyncIterator[ClientSession]:
    """An initialized client session with a fresh server (its environment: this test process's)."""
    params = StdioServerParameters(command=sys.executable, args=_server_args(ws_root), env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@pytest.fixture
def mcp_env(cache_dir: Path, ws_root: Path, bwrap: None) -> Path:
    """The workspace root of the test's server (its score cache: the module's, through
    ``PTB_ENV_CACHE_DIR``, which the server inherits); skipped where bubblewrap cannot run."""
    return ws_root


def test_tools_and_task_card_are_the_envs(mcp_env: Path):
    env = PostTrainEnv(TASK, budget="compute")
    want = {s["function"]["name"]: s["function"] for s in env.tool_schemas}

    async def main() -> None:
        async with _session(mcp_env) as session:
            tools = (await session.list_tools()).tools
            assert [t.name for t in tools] == list(want)
            for tool in tools:
                assert tool.description == want[tool.name]["description"]
                assert tool.input_schema == want[tool.name]["parameters"]
            assert session.instructions == env.task_card
            (card,) = (await session.read_resource(CARD_URI)).contents
            assert getattr(card, "text", None) == env.task_card
            (message,) = (await session.get_prompt(PROMPT_NAME)).messages
            assert env.task_card in getattr(message.content, "text", "")

    asyncio.run(main())
    env.close()


def test_malformed_calls_are_error_results_and_the_session_goes_on(mcp_env: Path):
    async def main() -> None:
        async with _session(mcp_env) as session:
            bad = await session.call_tool("bash", {"cmd": "ls"})
            assert bad.is_error and "[error]" in bad.content[0].text
            wrong = await session.call_tool("wait", {"job_id": "first"})
            assert wrong.is_error and wrong.structured_content["result"]["ok"] is False
            with pytest.raises(MCPError, match="Did you mean: 'bash'"):
                await session.call_tool("bsh", {"command": "ls"})
            ok = await session.call_tool("bash", {"command": "echo still-here"})
            assert not ok.is_error and "still-here" in ok.content[0].text
            # the two refused calls cost a tool call each; the unknown tool ran nothing
            assert ok.structured_content["budget"]["steps_left"] == get_task(TASK).max_steps - 3

    asyncio.run(main())


@pytest.mark.parametrize("how", ["end_of_stdin", "sigterm"])
def test_the_client_leaving_closes_the_episode(mcp_env: Path, how: str):
    """Raw JSON-RPC, to watch the server process: a background job runs, a wait is in flight, then
    stdin ends (the client closed it or died) or SIGTERM comes: the server exits, its workspace
    is gone, and so is the job; stdout carried JSON-RPC only."""
    marker = f"sleep {random.randint(10_000, 99_999)}.{os.getpid()}"
    server = subprocess.Popen(
        [sys.executable, *_server_args(mcp_env)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None

    def send(message: dict[str, Any]) -> None:
        assert server.stdin is not None
        server.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        server.stdin.flush()

    def call(i: int, tool: str, args: dict[str, Any]) -> None:
        send({"id": i, "method": "tools/call", "params": {"name": tool, "arguments": args}})

    client = {"name": "test", "version": "0"}
    try:
        send({"id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                                          "clientInfo": client}})  # fmt: skip
        assert json.loads(server.stdout.readline())["id"] == 1
        send({"method": "notifications/initialized"})
        call(2, "job_start", {"command": marker})
        started = json.loads(server.stdout.readline())
        assert started["result"]["structuredContent"]["result"]["ok"], started
        assert episodes(mcp_env) and wait_until(lambda: bool(processes(marker)))
        call(3, "wait", {"seconds": 60})
        time.sleep(0.5)
        t0 = time.perf_counter()
        if how == "sigterm":
            server.send_signal(signal.SIGTERM)
        else:
            server.stdin.close()
        rc = server.wait(timeout=30)
        seconds = time.perf_counter() - t0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert rc == (128 + signal.SIGTERM if how == "sigterm" else 0)
    assert seconds < 10, f"the server took {seconds:.1f} s to close its episode"
    assert episodes(mcp_env) == []
    assert wait_until(lambda: not processes(marker)), f"left running: {processes(marker)}"
    for line in server.stdout.read().splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"


@pytest.mark.slow
def test_a_scripted_sft_episode_earns_the_reward_of_the_same_actions_in_process(mcp_env: Path):
    """Data, 30 training steps, wait, submit: over MCP, then the same plan on a ``PostTrainEnv``
    with the same seed (the compute budget: the same reward on any machine and load), played
    once for both wire tests (``wire_plan.in_process``)."""

    async def over_mcp() -> tuple[dict[str, Any], Any]:
        async with _session(mcp_env) as session:

            async def step(action: dict[str, Any]) -> dict[str, Any]:
                reply = await session.call_tool(action["tool"], action["args"])
                assert reply.structured_content is not None, reply
                return reply.structured_content

            last = await drive_async(step)
            after = await session.call_tool("bash", {"command": "ls"})
            return last, after

    last, after = asyncio.run(over_mcp())
    assert episodes(mcp_env) == []  # the server closed the graded episode when the client left
    grade = last["grade"]
    assert last["over"] and grade["terminated"] and grade["status"] == "ok", grade
    assert after.is_error and "episode is over" in after.content[0].text
    assert after.structured_content["grade"] == grade

    final = in_process(mcp_env)
    assert final["status"] == "ok"
    assert grade["checkpoint"] and grade["checkpoint"] == final["grade"]["checkpoint"]  # the same weights...
    assert grade["reward"] == final["reward"]  # ...so the same reward
    assert grade["score"] == final["score"] and grade["base_score"] == final["base_score"]


@pytest.mark.slow
def test_five_clients_dying_mid_call_after_malformed_json_leave_nothing(mcp_env: Path):
    """Five times (each a new server, ~4 s of imports): a client sends a line that is not JSON
    (a parse error reply, the server goes on), a request of no known method (an error reply),
    starts a 60 s ``wait`` and dies (its end of stdin closes) mid-call: each server exits and
    leaves no workspace."""
    client = {"name": "test", "version": "0"}
    for _ in range(5):
        server = subprocess.Popen(
            [sys.executable, *_server_args(mcp_env)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert server.stdin is not None and server.stdout is not None
        try:
            init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
            lines = [
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}),
                json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                "{not json",
                json.dumps({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}),
                json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                            "params": {"name": "wait", "arguments": {"seconds": 60}}}),
            ]  # fmt: skip
            server.stdin.write("\n".join(lines) + "\n")
            server.stdin.flush()
            replies = [json.loads(server.stdout.readline()) for _ in range(3)]
            assert replies[0]["id"] == 1 and "result" in replies[0], replies
            # the line that is not JSON: JSON-RPC's parse error, with id null (ParseErrorReplies: the
            # SDK's transport alone drops it); the unknown method: "method not found"
            assert replies[1]["id"] is None and replies[1]["error"]["code"] == -32700, replies
            assert replies[2]["id"] == 2 and replies[2]["error"]["code"] == -32601, replies
            time.sleep(0.3)  # the wait is in flight
            server.stdin.close()
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        assert episodes(mcp_env) == []
