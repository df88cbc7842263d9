"""What the wire costs a step: `bash true` in-process, over MCP stdio and over OpenEnv's WebSocket.

    python tests/perf/perf_wire.py --steps 50

One run measures all three on the same machine: the median latency of a ``bash true`` step
``env.step`` in-process (the plain reference), through ``ptb-env mcp`` with the official MCP
SDK's stdio client, and through ``ptb-env serve`` with ``RemotePostTrainEnv`` (OpenEnv's
``EnvClient``). Prints each median, the added milliseconds against in-process (goal of the issue
"PostTrain over the wire": <= +5 ms each) and the ratio. The three rounds interleave (in-process,
MCP, OpenEnv, repeat), so a change in the machine's load hits all three alike. Every episode
runs in its own workspace under a temporary root, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TASK = "tiny-arith"
ACTION = {"tool": "bash", "args": {"command": "true"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def _mcp_times(
    root: Path, rounds: int, per_round: int, go: asyncio.Queue[int], back: asyncio.Queue[int]
) -> list[float]:
    """``bash true`` over MCP stdio, ``per_round`` calls each time the main loop says go."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    args = ["-m", "ptb_env.cli", "mcp", "--task", TASK, "--seed", "0", "--budget", "compute",
            "--workspace-root", str(root / "mcp")]  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))
    times = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("bash", {"command": "true"})  # warm
        await back.put(0)  # ready
        for _ in range(rounds):
            await go.get()
            for _ in range(per_round):
                t0 = time.perf_counter()
                result = await session.call_tool("bash", {"command": "true"})
                times.append(time.perf_counter() - t0)
                assert not result.is_error, result
            await back.put(0)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="steps of each way in all")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    from ptb_env.env import PostTrainEnv
    from ptb_env.remote import RemotePostTrainEnv

    per_round = max(1, a.steps // a.rounds)
    with tempfile.TemporaryDirectory(prefix="ptb-wire-") as tmp:
        root = Path(tmp)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "ptb_env.cli", "serve", "--task", TASK, "--budget", "compute",
             "--port", str(port), "--workspace-root", str(root / "serve")],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        local = PostTrainEnv(TASK, budget="compute", workspace_root=root / "local", max_steps=10_000)
        try:
            deadline = time.monotonic() + 180
            while not _healthy(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("ptb-env serve did not start")
                time.sleep(0.3)
            remote = RemotePostTrainEnv(f"ws://127.0.0.1:{port}", task=TASK)
            local.reset(seed=0)
            remote.reset(seed=0)
            local.step(ACTION), remote.step(ACTION)  # warm
            times: dict[str, list[float]] = {"in-process": [], "MCP stdio": [], "OpenEnv WebSocket": []}

            async def run() -> None:
                go: asyncio.Queue[int] = asyncio.Queue()
                back: asyncio.Queue[int] = asyncio.Queue()
                mcp = asyncio.create_task(_mcp_times(root, a.rounds, per_round, go, back))
                await back.get()  # the MCP server is up
                for _ in range(a.rounds):
                    for env, name in ((local, "in-process"), (remote, "OpenEnv WebSocket")):
                        for _ in range(per_round):
                            t0 = time.perf_counter()
                            obs = env.step(ACTION)[0]
                            times[name].append(time.perf_counter() - t0)
                            assert not obs["error"], obs["error"]
                    await go.put(1)  # the MCP round, then back here
                    await back.get()
                times["MCP stdio"] = await mcp

            asyncio.run(run())
            remote.close()
        finally:
            local.close()
            server.terminate()
            server.wait(timeout=60)
    base = statistics.median(times["in-process"])
    print(f"{'way':<20} {'steps':>5} {'median ms':>10} {'added ms':>9} {'ratio':>6}")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:<20} {len(ts):>5} {m * 1e3:>10.2f} {(m - base) * 1e3:>+9.2f} {m / base:>6.2f}")


if __name__ == "__main__":
    main()
