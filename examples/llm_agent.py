"""One PostTrain episode driven by a chat model through OpenAI function calling.

    vllm serve Qwen/Qwen3-8B --enable-auto-tool-choice --tool-call-parser hermes
    python examples/llm_agent.py --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B

Any OpenAI-compatible endpoint works (``--base-url``, ``--api-key``; defaults
from OPENAI_BASE_URL, OPENAI_API_KEY and PTB_LLM_MODEL). Prints each tool call,
then the reward line (the uplift of ``final_model/`` on the hidden test split).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gymnasium as gym

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_agents.base import run_episode
from ptb_agents.llm import LLMAgent, LLMArgs


@dataclass(frozen=True)
class Args:
    base_url: str = ""
    """Chat endpoint ("" : $OPENAI_BASE_URL, else http://127.0.0.1:8000/v1)."""
    model: str = ""
    """Model name ("" : $PTB_LLM_MODEL, else the only model the server serves)."""
    api_key: str = ""
    """API key ("" : $OPENAI_API_KEY, else "EMPTY")."""
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    seed: int = 0
    time_limit: float = 300.0
    """Wall-clock budget of the episode, in seconds."""
    max_steps: int = 200
    """Tool calls of the episode."""
    context_tokens: int = 32_000
    """The agent's context budget (approximate tokens)."""


def main(args: Args) -> float:
    env = gym.make(f"PostTrain-{args.task}-v0", time_limit_s=args.time_limit, max_steps=args.max_steps)
    agent = LLMAgent(
        LLMArgs(
            base_url=args.base_url or None,
            model=args.model or None,
            api_key=args.api_key or None,
            context_tokens=args.context_tokens,
        )
    )

    def show(i: int, action: dict, obs: dict, info: dict) -> None:
        line = (obs["error"] or obs["output"]).strip().splitlines() or [""]
        print(f"{i:3d} {action['tool']:10s} {str(action.get('args', ''))[:60]:60s} -> {line[-1][:80]}")

    try:
        r = run_episode(env, agent, seed=args.seed, on_step=show)
    finally:
        env.close()
    print(f"llm stats: {agent.stats.to_dict()}")
    print(f"reward {r.reward:+.4f} (status {r.status}, test score {r.score:.3f})")
    return r.reward


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
