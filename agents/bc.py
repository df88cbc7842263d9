"""A tiny tool-calling meta-agent policy, cloned from scripted demonstrations.

    python -m ptb_agents.bc record --out runs/bc/demos --episodes 24
    python -m ptb_agents.bc train --demos runs/bc/demos --out runs/bc/policy
    python -m ptb_agents.bc evaluate --policy runs/bc/policy --seeds 100 101 102 103 104 105 106 107

The issue "Meta-agent RL that learns" (item 3) asks for a policy that GRPO can start from: one
that calls tools validly, reaches ``submit`` and whose rewards vary across rollouts.

1. ``record``: :class:`DemoAgent` plays ``tiny-arith-short`` on the compute budget with a recipe
   drawn per episode from :data:`VARIANTS` (examples, learning rate, steps, a dev check or not),
   each episode written by ``RecordTrajectory`` (outputs kept whole).
2. ``train``: each recording is rendered as the chat a GRPO rollout of
   ``ptb_env.integrations.trl`` has (the same instruction and brief task card, the same tool
   schemas, the same tool messages: :func:`~ptb_env.integrations.trl.tool_message`), through
   TRL's Qwen3 tool-calling template, and the policy, the tiny base model (Qwen3 architecture,
   2M parameters) with its context stretched to :data:`CONTEXT`, is fine-tuned on the assistant
   turns only. The shared prompt (2,568 tokens, mostly the tools' schemas) runs without
   gradients, once per step.
3. ``evaluate``: the policy plays fresh seeds the way TRL's environment mode does: generate a
   turn, parse it with TRL's ``parse_response``, call the tool on a
   :class:`~ptb_env.integrations.trl.PostTrainToolEnv`, append the tool message, repeat; a turn
   without a valid tool call ends the rollout, which ``get_reward`` then submits. Prints the
   valid-call rate, the share of episodes the policy submitted itself, and the rewards.
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
import json
import math
import os
import random
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ptb_agents.steps import Episode, PlanAgent, evaluate, generate_data, train_and_wait
from ptb_env.tasks.tiny import SHORT_RECIPE_LEVELS

TASK = "tiny-arith-short"
"""The task of the demonstrations and rollouts."""
TOOLS = ("bash", "evaluate", "submit", "train", "wait")
"""The tools the policy gets (a shorter prompt than all of the env's)."""
CARD: Literal["brief"] = "brief"
"""The task card the policy sees (its opening: task, base model, budget)."""
MIN_P = 0.1
"""Sampling keeps the tokens at least this share of the likeliest one's probability (``min_p``), in
evaluation and in GRPO alike: at temperature 1 the cloned policy still spreads its choices between
recipes, but the long tail of each format token (~1% each, over ~250 tokens) would garble most
episodes' calls."""
MAX_OUTPUT_CHARS = 400
"""Characters of a tool's output the policy sees (head and tail)."""
CONTEXT = 8192
"""Positions of the policy (the tiny base model was pre-trained on 1,024; RoPE stretches)."""
RECORD_CHARS = 100_000
"""Characters of each output ``RecordTrajectory`` keeps (head and tail): all of them here."""


@dataclass(frozen=True)
class Variant:
    """One demonstration's recipe."""

    examples: int
    learning_rate: float
    steps: int
    check_dev: bool


VARIANTS = tuple(
    Variant(int(n), float(lr), int(s), dev)
    for n, lr, s, dev in itertools.product(
        SHORT_RECIPE_LEVELS["data_levels"],
        SHORT_RECIPE_LEVELS["lr_levels"],
        SHORT_RECIPE_LEVELS["steps_levels"],
        (True, False),
    )
)
"""36 recipes: the recipe wrapper's levels of the short task, with and without a dev check."""


class DemoAgent(PlanAgent):
    """generate data → train → wait → (evaluate) → submit, with one :class:`Variant`'s settings."""

    name = "bc-demo"

    def __init__(self, variant: Variant) -> None:
        self.variant = variant

    def _steps(self) -> Episode:
        v = self.variant
        yield None  # primed by reset
        yield from generate_data(self.benchmark, v.examples, self.seed % 10)
        train_args = {"data": "data/train.jsonl", "learning_rate": v.learning_rate, "max_steps": v.steps}
        yield from train_and_wait(train_args)
        if v.check_dev:
            yield from evaluate("final_model", 50)
        yield {"tool": "submit", "args": {}}


# -- record -------------------------------------------------------------------------------------
def record(out: Path, episodes: int, seed: int = 0) -> list[dict[str, Any]]:
    """Play ``episodes`` demonstrations (seeds ``seed``, ``seed + 1``, ...) into ``out``."""
    import gymnasium as gym

    import ptb_env  # noqa: F401 - registers the ids
    from ptb_env.rollout import run_episode
    from ptb_env.tasks import gym_id
    from ptb_env.wrappers import RecordTrajectory

    order = list(range(len(VARIANTS)))
    random.Random(seed).shuffle(order)
    rows = []
    for i in range(episodes):
        variant = VARIANTS[order[i % len(order)]]
        env = RecordTrajectory(
            gym.make(gym_id(TASK), budget="compute"), out, agent="bc-demo", output_chars=RECORD_CHARS
        )
        try:
            result = run_episode(env, DemoAgent(variant), seed=seed + i)
        finally:
            env.close()
        row = {"seed": seed + i, **asdict(variant), "reward": result.reward, "status": result.status}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


# -- render -------------------------------------------------------------------------------------
def prompt_messages(task_card: str) -> list[dict[str, Any]]:
    """The rollout's first message, as ``make_grpo_dataset`` and ``PostTrainToolEnv.reset`` make it."""
    from ptb_env.integrations.trl import INSTRUCTION, policy_card

    return [{"role": "user", "content": INSTRUCTION + policy_card(task_card, CARD)}]


def render(path: Path) -> list[dict[str, Any]]:
    """One recorded episode as the chat of a rollout: the prompt, then each tool call and its
    message (the last one, ``submit``'s, included)."""
    from ptb_env.integrations.trl import tool_message

    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    head = next(r for r in lines if r["type"] == "episode")
    messages = prompt_messages(head["task_card"])
    for r in (r for r in lines if r["type"] == "step"):
        action = r["action"]
        call = {"type": "function", "function": {"name": action["tool"], "arguments": action.get("args", {})}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        ended = r["terminated"] or r["truncated"]
        over = None if not ended else ("you submitted" if r["terminated"] else "the budget ran out")
        output = r["output_head"] + r["output_tail"]
        best = r["best_dev_score"]
        text = tool_message(
            output, r["error"], r["budget"], math.nan if best is None else float(best), over, MAX_OUTPUT_CHARS
        )
        messages.append({"role": "tool", "name": action["tool"], "content": text})
    return messages


TRAIN_ARGS = ("data", "learning_rate", "max_steps")
"""The arguments of ``train`` the policy gets (the env's other 16 would triple the prompt)."""


@functools.cache
def policy_env_class() -> type[Any]:
    """The rollout env of the policy (``environment_factory`` of GRPO): :data:`TOOLS` only, and
    ``train`` with the arguments of :data:`TRAIN_ARGS` (the rest take the tool's defaults; on
    the compute budget the tool fits the steps to the TFLOP left). The schemas' text is the
    env's own. One class per process, so every rollout env is of the same type."""
    from ptb_env.integrations.trl import tool_docstring, tool_env_class

    base = tool_env_class(TOOLS)

    def train(self, data: str, learning_rate: float | None = None, max_steps: int | None = None) -> str:
        return self._call("train", data=data, learning_rate=learning_rate, max_steps=max_steps)

    train.__doc__ = tool_docstring("train", TRAIN_ARGS)
    return type("PolicyToolEnv", (base,), {"train": train, "__module__": __name__})


def policy_tools() -> list[Any]:
    """The tools as TRL lists them for the prompt: the public methods of the rollout env's class,
    alphabetically (``inspect.getmembers``), bound to an instance that never starts an episode."""
    import inspect

    cls = policy_env_class()
    instance = object.__new__(cls)  # schemas only: no env is made
    names = [n for n, _ in inspect.getmembers(cls, predicate=inspect.isfunction)]
    return [getattr(instance, n) for n in names if not n.startswith("_") and n not in ("reset", "get_reward")]


def load_tokenizer(path: str | Path) -> Any:
    """The policy's tokenizer, with TRL's tool-calling template and response parser."""
    from trl.chat_template_utils import add_response_schema

    from ptb_env.integrations.trl import tool_calling_tokenizer

    return add_response_schema(tool_calling_tokenizer(str(path)))


def tokenize(tokenizer: Any, messages: list[dict[str, Any]], tools: list[Any]) -> tuple[list[int], list[int]]:
    """Token ids of a chat and labels that keep the assistant turns only (-100 elsewhere)."""
    from trl.chat_template_utils import get_training_chat_template

    template = get_training_chat_template(tokenizer) or tokenizer.chat_template

    def ids_of(msgs: list[dict[str, Any]], gen: bool) -> list[int]:
        out = tokenizer.apply_chat_template(
            msgs, tools=tools, chat_template=template, add_generation_prompt=gen, return_dict=False
        )
        return list(out)

    ids = ids_of(messages, False)
    labels = [-100] * len(ids)
    for k, m in enumerate(messages):
        if m["role"] == "assistant":
            start, end = len(ids_of(messages[:k], True)), len(ids_of(messages[: k + 1], False))
            labels[start:end] = ids[start:end]
    return ids, labels


# -- train --------------------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<![\w.])\d{2,}(?:\.\d+)?|\d\.\d+")


def perturb_numbers(messages: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A copy of a rendered chat whose tool messages carry other numbers (budgets, timings,
    scores: every number but single digits, such as job ids, which the calls repeat), each
    redrawn with its digits' count. The demonstrations' tool messages differ from a rollout's
    mostly in these numbers; without the copies the cloned policy's later calls broke whenever
    its context held numbers it had not seen."""

    def redraw(m: re.Match[str]) -> str:
        return re.sub(r"\d", lambda _: str(rng.randrange(10)), m.group(0))

    out = []
    for m in messages:
        if m["role"] == "tool":
            m = {**m, "content": _NUMBER.sub(redraw, m["content"])}
        out.append(m)
    return out


def train(
    demos: Path, out: Path, *, steps: int = 150, lr: float = 1e-3, batch: int = 4, seed: int = 0,
    copies: int = 4,
) -> dict:  # fmt: skip
    """Fine-tune the tiny base model on the assistant turns of every recording in ``demos`` (and
    ``copies`` of each with other numbers in its tool messages: :func:`perturb_numbers`)."""
    import torch
    from transformers import AutoModelForCausalLM

    from ptb_env.cpus import available_cpus
    from ptb_env.paths import TINY_MODEL_DIR

    torch.set_num_threads(available_cpus())
    torch.manual_seed(seed)
    tokenizer = load_tokenizer(TINY_MODEL_DIR)
    tools = policy_tools()
    chats = [render(p) for p in sorted(demos.glob("*.jsonl"))]
    if not chats:
        raise SystemExit(f"no recordings (*.jsonl) in {demos}")
    rng = random.Random(seed)
    chats += [perturb_numbers(c, rng) for c in chats for _ in range(copies)]
    data = [tokenize(tokenizer, c, tools) for c in chats]
    # The prefix every recording shares, up to its first label; x starts at the last prefix token
    # (it predicts the first label), so the prefix proper runs once per step without gradients.
    first = min(next(i for i, y in enumerate(labels) if y != -100) for _, labels in data)
    common = next(
        (i for i, column in enumerate(zip(*(ids for ids, _ in data), strict=False)) if len(set(column)) > 1),
        min(len(ids) for ids, _ in data),
    )
    cut = max(0, min(first, common) - 1)
    prefix_ids = data[0][0][:cut]
    model = AutoModelForCausalLM.from_pretrained(TINY_MODEL_DIR, max_position_embeddings=CONTEXT)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 10) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    prefix = torch.tensor([prefix_ids])
    log = []
    t0 = time.perf_counter()
    model.train()
    for step in range(steps):
        cache = None
        if cut:
            with torch.no_grad():
                cache = model(input_ids=prefix, use_cache=True).past_key_values
        losses = []
        sample = rng.sample(data, min(batch, len(data)))
        for ids, labels in sample:
            x, y = torch.tensor([ids[cut:]]), torch.tensor([labels[cut:]])
            past = copy.deepcopy(cache) if cache is not None else None
            loss = model(input_ids=x, labels=y, past_key_values=past, use_cache=past is not None).loss
            (loss / len(sample)).backward()
            losses.append(loss.detach().item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        log.append(statistics.mean(losses))
        if step % 10 == 0 or step == steps - 1:
            print(f"step {step} loss {log[-1]:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    model.config.use_cache = True
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {
        "demos": len(chats) // (copies + 1), "copies": copies,
        "steps": steps, "lr": lr, "batch": batch, "seed": seed, "context": CONTEXT,
        "prefix_tokens": cut, "tokens": [len(ids) for ids, _ in data], "loss": log,
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    (out / "bc_info.json").write_text(json.dumps(info, indent=1))
    return info


# -- evaluate -----------------------------------------------------------------------------------
def rollout_turns(
    model: Any, tokenizer: Any, env: Any, seed: int, *, max_turns: int = 12, max_new_tokens: int = 160,
    temperature: float = 1.0, min_p: float = MIN_P,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Play one episode with the policy, TRL-style; yields one record per generated turn."""
    import torch
    from trl.chat_template_utils import get_training_chat_template, parse_response

    from ptb_env.integrations.trl import INSTRUCTION

    tools = policy_tools()
    # GRPOTrainer extends a rollout by concatenation (prompt + the turn's tokens as generated + the
    # tool message), which the training template renders alike; the default Qwen3 template
    # would drop the earlier turns' <think></think> blocks, a context the policy never saw
    template = get_training_chat_template(tokenizer) or tokenizer.chat_template
    messages: list[dict[str, Any]] = [{"role": "user", "content": INSTRUCTION + env.reset(seed=seed)}]
    for _ in range(max_turns):
        ids = tokenizer.apply_chat_template(
            messages, tools=tools, chat_template=template, add_generation_prompt=True, return_dict=False
        )
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        with torch.no_grad():
            out = model.generate(
                torch.tensor([list(ids)]), max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                temperature=temperature or None, top_k=0, top_p=1.0, min_p=min_p or None, eos_token_id=end,
                pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
        new = out[0, len(ids) :].tolist()
        parsed = parse_response(tokenizer, new, prefix=list(ids), tools=tools)  # as GRPOTrainer calls it
        calls = parsed.get("tool_calls") or []
        turn = {"text": tokenizer.decode(new), "calls": calls, "valid": False}
        if not calls:
            yield turn
            return
        messages.append(parsed)
        for call in calls:
            fn = call["function"]
            method = getattr(env, fn["name"], None) if fn["name"] in TOOLS else None
            try:
                if method is None:
                    raise ValueError(f"Tool {fn['name']} not found.")
                result: Any = method(**fn["arguments"])
                turn["valid"] = True
            except Exception as err:  # TRL turns a failing call into the tool message {"error": ...}
                result = {"error": str(err)}
            messages.append({"role": "tool", "name": fn["name"], "content": str(result)})
        yield turn
        if not env._running:
            return


def evaluate_policy(
    policy: str | Path,
    seeds: list[int],
    temperature: float = 1.0,
    max_new_tokens: int = 160,
    min_p: float = MIN_P,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """The policy's valid-call rate, submit rate and rewards on ``seeds`` (real episodes; ``env_kwargs``
    go to ``PostTrainEnv``).

    Each episode samples from a generator seeded with its own seed, so an episode's turns depend on
    the seed and the policy only, not on which seeds came before it in the list: two policies
    evaluated on one seed share their random numbers (a paired comparison), and the seeds of
    two calls draw different samples. (Until 2026-12-06 one generator seeded 0 ran through the
    list: a second call on other seeds replayed the first call's samples.)
    """
    import torch
    from transformers import AutoModelForCausalLM

    from ptb_env.cpus import available_cpus

    torch.set_num_threads(available_cpus())
    model = AutoModelForCausalLM.from_pretrained(policy).eval()
    tokenizer = load_tokenizer(policy)
    episodes = []
    for seed in seeds:
        torch.manual_seed(seed)
        env = policy_env_class()(
            TASK, task_card=CARD, max_output_chars=MAX_OUTPUT_CHARS, **{"budget": "compute", **env_kwargs}
        )
        try:
            turns = list(
                rollout_turns(
                    model,
                    tokenizer,
                    env,
                    seed,
                    temperature=temperature,
                    max_new_tokens=max_new_tokens,
                    min_p=min_p,
                )
            )
            reward = env.get_reward()
            record = env.last_record
        finally:
            env._close()
        assert record is not None
        ep = {
            "seed": seed, "reward": reward, "status": record.status, "submitted": record.submitted_by_policy,
            "turns": len(turns), "valid": sum(t["valid"] for t in turns), "tools": record.tools,
            "calls": [c["function"] for t in turns for c in t["calls"]],
        }  # fmt: skip
        episodes.append(ep)
        print(json.dumps(ep, default=str), flush=True)
    turns = sum(e["turns"] for e in episodes)
    rewards = [e["reward"] or 0.0 for e in episodes]
    summary = {
        "episodes": len(episodes),
        "valid_call_rate": sum(e["valid"] for e in episodes) / max(1, turns),
        "submit_rate": sum(e["submitted"] for e in episodes) / len(episodes),
        "reward_mean": statistics.mean(rewards),
        "reward_std": statistics.stdev(rewards) if len(rewards) > 1 else 0.0,
        "distinct_rewards": len(set(rewards)),
    }
    print(json.dumps(summary), flush=True)
    return {"summary": summary, "episodes": episodes}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--episodes", type=int, default=24)
    r.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train")
    t.add_argument("--demos", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=150)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--copies", type=int, default=4)
    e = sub.add_parser("evaluate")
    e.add_argument("--policy", type=Path, required=True)
    e.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 108)))
    e.add_argument("--temperature", type=float, default=1.0)
    e.add_argument("--min-p", type=float, default=MIN_P)
    e.add_argument("--json", type=Path)
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.cmd == "record":
        record(a.out, a.episodes, a.seed)
    elif a.cmd == "train":
        train(a.demos, a.out, steps=a.steps, lr=a.lr, batch=a.batch, copies=a.copies)
    else:
        result = evaluate_policy(a.policy, a.seeds, a.temperature, min_p=a.min_p)
        if a.json:
            a.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
