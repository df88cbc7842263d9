"""PostTrain-v0 speed and memory: reset, per-step overhead, a full scripted-SFT episode.

    python tests/perf/perf_env.py [--resets 20] [--steps 200] [--episode/--no-episode]

Prints, each measured in this run against a plain reference:
- ``reset()`` median with a warm score cache (goal <= 0.1 s), and its ratio to the
  plain parts it is made of (``Workspace.create`` + starting the bubblewrap shell);
- per-step overhead of ``bash true`` through ``env.step`` over the same call made
  directly on the sandbox (goal <= 15 ms);
- a full ``scripted-sft`` episode on the default task: wall time, reward, and the
  peak resident memory of the whole episode (this process plus every sandbox
  process, sampled every 0.2 s; goal <= 2 GiB), against the peak of the process alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss_bytes(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
    return total


def median_ms(xs: list[float]) -> float:
    return 1000 * statistics.median(xs)


def main() -> None:
    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers the envs
    from ptb_env.sandbox import SandboxConfig, make_sandbox
    from ptb_env.workspace import Workspace

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resets", type=int, default=20)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--episode", action=argparse.BooleanOptionalAction, default=True)
    a = p.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ptb-perf-"))
    env = gym.make("PostTrain-v0", workspace_root=root)
    env.reset(seed=0)  # warms the score cache and the content-hash memo

    # reset: env vs its plain parts (each closes the previous episode, then builds a new one)
    resets, parts = [], []
    for i in range(a.resets):
        t = time.perf_counter()
        env.reset(seed=i)
        resets.append(time.perf_counter() - t)
    env.close()
    ws = Workspace.create(root, env.unwrapped.task.base_model, task_card="x")
    prev = (ws, make_sandbox(ws, "bwrap", SandboxConfig()))
    for _ in range(a.resets):
        t = time.perf_counter()
        prev[1].close()
        prev[0].remove()
        ws = Workspace.create(root, env.unwrapped.task.base_model, task_card="x")
        prev = (ws, make_sandbox(ws, "bwrap", SandboxConfig()))
        parts.append(time.perf_counter() - t)
    prev[1].close()
    prev[0].remove()
    r_env, r_parts = median_ms(resets), median_ms(parts)
    print(
        f"reset() median {r_env:.1f} ms (goal <= 100 ms, warm score cache); plain parts (close the "
        f"previous sandbox and workspace, create a workspace, start a sandbox) {r_parts:.1f} ms; "
        f"ratio {r_env / r_parts:.2f}"
    )

    # step overhead: env.step(bash true) vs sandbox.run("true")
    env.reset(seed=0)
    sandbox = env.unwrapped._sandbox
    action = {"tool": "bash", "args": {"command": "true"}}
    through_env, direct = [], []
    for _ in range(a.steps // 2):
        t = time.perf_counter()
        env.step(action)
        through_env.append(time.perf_counter() - t)
        t = time.perf_counter()
        sandbox.run("true")
        direct.append(time.perf_counter() - t)
    s_env, s_direct = median_ms(through_env), median_ms(direct)
    print(
        f"step(bash true) median {s_env:.2f} ms; sandbox.run('true') {s_direct:.2f} ms; "
        f"overhead {s_env - s_direct:.2f} ms (goal <= 15 ms); ratio {s_env / s_direct:.2f}"
    )
    env.close()

    if not a.episode:
        return
    from ptb_agents import make_agent, run_episode

    env = gym.make("PostTrain-v0", workspace_root=root)
    agent = make_agent("scripted-sft", env)
    peak, stop = [0, 0], threading.Event()

    def sample() -> None:
        me = os.getpid()
        while not stop.is_set():
            sb = env.unwrapped._sandbox
            pids = {me} | (sb.host_pids() if sb is not None else set())
            peak[0] = max(peak[0], rss_bytes(pids))
            peak[1] = max(peak[1], rss_bytes({me}))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    r = run_episode(env, agent, seed=0)
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    env.close()
    gib = 1 << 30
    print(
        f"scripted-sft episode: wall {wall:.1f} s, reward {r.reward:+.4f} ({r.status}), {r.steps} steps; "
        f"peak RSS episode {peak[0] / gib:.2f} GiB (goal <= 2 GiB), "
        f"this process alone {peak[1] / gib:.2f} GiB"
    )


if __name__ == "__main__":
    main()
