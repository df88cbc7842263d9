"""Meta-agent RL: train an LLM policy with TRL's GRPO, one PostTrain episode per rollout.

    python examples/grpo_meta_agent.py --steps 2
    python examples/grpo_meta_agent.py --policy Qwen/Qwen3-1.7B --tools all --task-card full \
        --time-limit 3600 --max-env-steps 100 --max-completion-length 8192 --warm-start-steps 0

The policy sees the task card and calls the env's tools (TRL's `environment_factory`
mode); every rollout is a real episode, graded on the hidden test split, and its
uplift is the GRPO reward. The default policy is the tiny base model, a stand-in that
cannot use tools by itself, so its rollouts end without a checkpoint (graded
`invalid_checkpoint`, uplift 0). `--warm-start-steps N` first fine-tunes it on one
demonstration (copy the base model to final_model/, then submit); on 2 shared CPU
cores 40-60 steps took 2-3 minutes and did not yet make its samples reliable tool calls.
Its context is stretched to `--context` positions (RoPE, no learned positions): the
prompt alone is ~1,000 tokens, its trained context 1,024.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental in TRL 1.16

import torch
from transformers import AutoModelForCausalLM
from trl import GRPOConfig, GRPOTrainer
from trl.chat_template_utils import get_training_chat_template

from ptb_env.integrations.trl import (
    TOOL_NAMES,
    PostTrainEnvFactory,
    make_grpo_dataset,
    step_timer,
    tool_calling_tokenizer,
)
from ptb_env.paths import TINY_MODEL_DIR

DEMO = [
    {"name": "bash", "arguments": {"command": "cp -rL base_model/. final_model/"}},
    {"name": "submit", "arguments": {}},
]
"""The warm-start demonstration: the noop baseline's two tool calls."""


@dataclass(frozen=True)
class Args:
    policy: str = str(TINY_MODEL_DIR)
    """Policy model (a path or hub id)."""
    task: str = "tiny-arith"
    """Task of the episodes (see `ptb-env list`)."""
    steps: int = 2
    """GRPO optimizer steps (one prompt, `num_generations` rollouts each)."""
    num_generations: int = 2
    """Rollouts per prompt (the GRPO group)."""
    time_limit: float = 60.0
    """Wall-clock budget of each episode (its clock runs from reset, during generation too)."""
    max_env_steps: int = 4
    """Tool calls per episode."""
    tools: str = "bash,submit"
    """Comma-separated tools the policy gets, or `all`."""
    task_card: str = "brief"
    """`full` or `brief` task card in the prompt."""
    max_completion_length: int = 256
    """Tokens of a rollout after the prompt (tool outputs included)."""
    max_tool_calls: int = 4
    """Generation turns with tool calls per rollout (TRL's max_tool_calling_iterations)."""
    context: int = 2048
    """Positions of the policy (raised above its config's when larger; 0 keeps it)."""
    warm_start_steps: int = 0
    """Most SFT steps on the demonstration before GRPO (0: none); stops early once learned."""
    learning_rate: float = 1e-5
    """GRPO learning rate."""
    sandbox: str = "bwrap"
    """Sandbox of the episodes (`bwrap` or `none`)."""
    output_dir: str = ""
    """Trainer output directory (default: a temporary one)."""
    seed: int = 0


def warm_start(model, tokenizer, chat_template: str, tools: list, prompt: list[dict], steps: int) -> int:
    """Fine-tune ``model`` on the demonstration's assistant turns; returns the steps taken."""
    calls = [
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": c}]}
        for c in DEMO
    ]
    reply = {"role": "tool", "name": "bash", "content": "[budget] 50 s, 3 tool calls left"}
    turns = [
        (prompt, prompt + calls[:1]),
        (prompt + calls[:1] + [reply], prompt + calls[:1] + [reply] + calls[1:]),
    ]

    def render(messages, gen):
        ids = tokenizer.apply_chat_template(
            messages, tools=tools, chat_template=chat_template, add_generation_prompt=gen, return_dict=False
        )
        return list(ids)

    ids = render(turns[-1][1], False)
    labels = [-100] * len(ids)
    for before, after in turns:
        start, end = len(render(before, True)), len(render(after, False))
        labels[start:end] = ids[start:end]
    # The shared prompt runs without gradients (its keys and values recomputed each step with
    # the current weights); only the demonstration's turns are backpropagated: ~3x cheaper.
    cut = len(render(turns[0][0], True)) - 1  # x starts at the last prompt token: it predicts the first
    prefix, x, y = torch.tensor([ids[:cut]]), torch.tensor([ids[cut:]]), torch.tensor([labels[cut:]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    step = 0
    while step < steps:
        step += 1
        with torch.no_grad():
            cache = model(input_ids=prefix, use_cache=True).past_key_values
        loss = model(input_ids=x, labels=y, past_key_values=cache, use_cache=True).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if loss.item() < 0.01:
            break
    print(f"warm start: {step} steps, demonstration loss {loss.item():.4f}")
    return step


def main(args: Args) -> dict:
    tools = list(TOOL_NAMES) if args.tools == "all" else args.tools.split(",")
    factory = PostTrainEnvFactory(
        args.task,
        tools=tools,
        task_card=args.task_card,
        time_limit_s=args.time_limit,
        max_steps=args.max_env_steps,
        sandbox=args.sandbox,
    )
    tokenizer = tool_calling_tokenizer(args.policy)
    overrides = {"max_position_embeddings": args.context} if args.context else {}
    model = AutoModelForCausalLM.from_pretrained(args.policy, dtype=torch.float32, **overrides)
    model.config.max_position_embeddings = max(model.config.max_position_embeddings, args.context)
    tokenizer.model_max_length = model.config.max_position_embeddings
    dataset = make_grpo_dataset(args.task, args.steps, seed=args.seed)
    torch.manual_seed(args.seed)
    with factory, tempfile.TemporaryDirectory(prefix="grpo-") as tmp:
        if args.warm_start_steps:
            probe = factory()  # one episode's prompt, exactly as the trainer renders it
            prompt = [{**dataset[0]["prompt"][0]}]
            prompt[0]["content"] += probe.reset(seed=args.seed)
            probe._close()
            env_tools = [getattr(probe, t) for t in tools]
            warm_start(
                model,
                tokenizer,
                get_training_chat_template(tokenizer) or tokenizer.chat_template,
                env_tools,
                prompt,
                args.warm_start_steps,
            )
        config = GRPOConfig(
            output_dir=args.output_dir or tmp,
            max_steps=args.steps,
            per_device_train_batch_size=args.num_generations,
            num_generations=args.num_generations,
            max_completion_length=args.max_completion_length,
            max_tool_calling_iterations=args.max_tool_calls,
            learning_rate=args.learning_rate,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            bf16=False,
            seed=args.seed,
            shuffle_dataset=False,
        )
        timer = step_timer()
        trainer = GRPOTrainer(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            environment_factory=factory,
            callbacks=[timer],
        )
        trainer.train()
    g = args.num_generations
    logs = [log for log in trainer.state.log_history if "loss" in log]
    for i, log in enumerate(logs):
        episodes = factory.episodes[i * g : (i + 1) * g]
        shown = ", ".join(f"{e.reward:+.4f} ({e.status}; {'>'.join(e.tools) or 'no tool'})" for e in episodes)
        print(f"step {i + 1}: {timer.seconds[i]:.1f} s, loss {log['loss']:.4f}, rewards {shown}")
    summary = {
        "global_step": trainer.state.global_step,
        "losses": [log["loss"] for log in logs],
        "mean_rewards": [log.get("reward") for log in logs],
        "step_seconds": timer.seconds,
        "episodes": [e.to_dict() for e in factory.episodes],
    }
    print("SUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    main(Args(**vars(p.parse_args())))
