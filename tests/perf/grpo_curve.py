"""Does GRPO improve the cloned tool-calling policy? Rewards before and after, per-step rewards.

    python tests/perf/grpo_curve.py --policy runs/bc/policy --steps 12 --num-generations 4 \
        --eval-seeds 100 101 102 103 104 105 106 107 --out runs/grpo --plot docs/img/grpo_curve.png

1. Before: the policy (``python -m ptb_agents.bc train``) plays each of ``--eval-seeds`` on
   ``tiny-arith-short`` (compute budget), TRL-style (``ptb_agents.bc.evaluate_policy``), or
   ``--before`` names a saved ``python -m ptb_agents.bc evaluate --json`` of it on those seeds.
2. GRPO: TRL's ``GRPOTrainer`` in environment mode, ``--steps`` optimizer steps, each one prompt
   (a fresh episode seed) with ``--num-generations`` rollouts; every rollout is a real episode
   in ``ptb_agents.bc.policy_env_class()`` (the policy's tools), graded on the hidden test items.
   Prints each step's rewards and their mean.
3. After: the trained policy plays the same seeds.

Prints both means +- SEM and their difference in SEMs (goal of the issue "Meta-agent RL that
learns": > 2), also paired by seed (:func:`compare`), the valid-call and submit rates, the wall
time; ``--plot`` draws the per-step mean reward with the before/after bands. Every episode runs
on the compute budget, so rewards do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def sem(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def compare(before: list[float], after: list[float]) -> dict[str, float]:
    """After minus before on the same seeds: the difference of the means, over the SEM of two
    independent samples (``z``) and over the SEM of the per-seed differences (``paired_z``).

    Pairing is sound because ``evaluate_policy`` seeds each episode's sampling with its seed: both
    policies draw the same random numbers on a seed, so a seed's difference is the policies'.

    >>> round(compare([0.0, 0.1, 0.2], [0.1, 0.2, 0.4])["diff"], 4)
    0.1333
    """
    diff = statistics.mean(after) - statistics.mean(before)
    paired = [a - b for a, b in zip(after, before, strict=True)]
    return {
        "diff": diff,
        "z": diff / (math.hypot(sem(before), sem(after)) or math.inf),
        "paired_sem": sem(paired),
        "paired_z": diff / (sem(paired) or math.inf),
    }


def grpo(policy: Path, out: Path, a: argparse.Namespace) -> dict[str, Any]:
    """GRPO from ``policy``; saves the trained policy to ``out``; returns the per-step rewards."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from ptb_agents import bc
    from ptb_env.cpus import available_cpus
    from ptb_env.integrations.trl import PostTrainEnvFactory, make_grpo_dataset, step_timer

    torch.set_num_threads(available_cpus())
    torch.manual_seed(a.seed)
    tokenizer = bc.load_tokenizer(policy)
    model = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32)
    tokenizer.model_max_length = model.config.max_position_embeddings
    factory = PostTrainEnvFactory(
        bc.TASK, env_class=bc.policy_env_class(), task_card=bc.CARD, max_output_chars=bc.MAX_OUTPUT_CHARS,
        budget="compute",
    )  # fmt: skip

    def show(step: int, seconds: float) -> None:
        g = a.num_generations
        shown = ", ".join(f"{e.reward:+.3f}" for e in factory.episodes[(step - 1) * g : step * g])
        print(f"step {step}: {seconds:.0f} s, rewards {shown}", flush=True)

    timer = step_timer(show)
    with factory:
        config = GRPOConfig(
            output_dir=str(out / "trainer"),
            max_steps=a.steps,
            per_device_train_batch_size=a.num_generations,
            num_generations=a.num_generations,
            max_completion_length=a.max_completion_length,
            max_tool_calling_iterations=a.max_tool_calls,
            learning_rate=a.lr,
            lr_scheduler_type=a.lr_schedule,
            beta=0.0,
            temperature=1.0,
            min_p=bc.MIN_P,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            bf16=False,
            seed=a.seed,
            shuffle_dataset=False,
        )
        trainer = GRPOTrainer(
            model=model,
            args=config,
            train_dataset=make_grpo_dataset(bc.TASK, a.steps, seed=a.train_seed),
            processing_class=tokenizer,
            environment_factory=factory,
            callbacks=[timer],
        )
        trainer.train()
    trainer.model.save_pretrained(out / "policy")
    tokenizer.save_pretrained(out / "policy")
    g = a.num_generations
    steps = []
    for i in range(len(timer.seconds)):
        eps = factory.episodes[i * g : (i + 1) * g]
        steps.append({"step": i + 1, "seconds": timer.seconds[i], "rewards": [e.reward for e in eps]})
    logs = [log for log in trainer.state.log_history if "loss" in log]
    # the group-normalized advantages GRPOTrainer computed (kept for its completion logs)
    advantages = [float(x) for x in getattr(trainer, "_logs", {}).get("advantages", ())]
    return {"steps": steps, "logs": logs, "advantages": advantages}


def draw(path: Path, steps: list[dict[str, Any]], r0: list[float], r1: list[float]) -> None:
    """The per-step mean reward, with the before (``r0``) and after (``r1``) means +- SEM as bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = [s["step"] for s in steps]
    ax.plot(xs, [statistics.mean(s["rewards"]) for s in steps], "o-", label="GRPO step mean reward")
    for name, r, color in (("before", r0, "C1"), ("after", r1, "C2")):
        m, e = statistics.mean(r), sem(r)
        ax.axhline(m, color=color, label=f"{name}: {len(r)} fresh seeds, mean +- SEM")
        ax.axhspan(m - e, m + e, color=color, alpha=0.15)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("reward (test uplift)")
    ax.set_title("tiny-arith-short: cloned policy under GRPO")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def replot(folder: Path, path: Path) -> None:
    """Compare and draw a ``--no-eval`` run from its folder: its ``grpo_curve.json``, a
    ``before_*.json`` and one or more ``after_*.json`` (``python -m ptb_agents.bc evaluate --json``
    on the same seeds, split as one likes)."""

    def episodes(pattern: str) -> list[dict[str, Any]]:
        eps = [e for f in sorted(folder.glob(pattern)) for e in json.loads(f.read_text())["episodes"]]
        return sorted(eps, key=lambda e: e["seed"])

    before, after = episodes("before_*.json"), episodes("after_*.json")
    if [e["seed"] for e in before] != [e["seed"] for e in after]:
        raise SystemExit(f"{folder}: the before and after evaluations hold different seeds")
    r0, r1 = ([e["reward"] or 0.0 for e in eps] for eps in (before, after))
    gain = compare(r0, r1)
    for name, r in (("before", r0), ("after", r1)):
        print(f"{name}: {statistics.mean(r):+.3f} +- {sem(r):.3f} (SEM, {len(r)} seeds)")
    print(f"after - before: {gain['diff']:+.3f} = {gain['z']:.1f} SEM; paired {gain['paired_z']:.1f} SEM")
    draw(path, json.loads((folder / "grpo_curve.json").read_text())["curve"]["steps"], r0, r1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--policy",
        type=Path,
        help="the cloned policy (python -m ptb_agents.bc train); required unless --replot",
    )
    p.add_argument("--out", type=Path, default=Path("runs/grpo"))
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--num-generations", type=int, default=4)
    p.add_argument("--max-completion-length", type=int, default=1536)
    p.add_argument("--max-tool-calls", type=int, default=10)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument(
        "--lr-schedule", default="linear", choices=["linear", "constant"], help="the trainer's lr schedule"
    )
    p.add_argument("--eval-seeds", type=int, nargs="+", default=list(range(100, 108)))
    p.add_argument("--train-seed", type=int, default=1000, help="first episode seed of the GRPO prompts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path)
    p.add_argument(
        "--before",
        type=Path,
        help="a saved `python -m ptb_agents.bc evaluate --json` of --policy on --eval-seeds, used as the "
        "before figures (the evaluation is deterministic on the compute budget)",
    )
    p.add_argument(
        "--no-eval", action="store_true", help="GRPO steps only, no before/after evaluation (the CI test)"
    )
    p.add_argument(
        "--replot", type=Path, help="a --no-eval run's folder with its evaluations: compare, --plot"
    )
    a = p.parse_args()
    if a.replot:
        replot(a.replot, a.plot or a.replot / "grpo_curve.png")
        return
    if a.policy is None:
        p.error("--policy is required unless --replot is given")
    from ptb_agents.bc import evaluate_policy

    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if a.no_eval:
        curve = grpo(a.policy, a.out, a)
        for s in curve["steps"]:
            print(f"step {s['step']}: rewards {s['rewards']} ({s['seconds']:.0f} s)")
        print(f"advantages {curve['advantages']}")
        (a.out / "grpo_curve.json").write_text(json.dumps({"curve": curve, "settings": vars(a)}, default=str))
        return
    if a.before:
        before = json.loads(a.before.read_text())
        if [e["seed"] for e in before["episodes"]] != a.eval_seeds:
            raise SystemExit(f"{a.before} holds other seeds than --eval-seeds {a.eval_seeds}")
    else:
        before = evaluate_policy(a.policy, a.eval_seeds)
    curve = grpo(a.policy, a.out, a)
    after = evaluate_policy(a.out / "policy", a.eval_seeds)
    took = time.perf_counter() - t0
    r0 = [e["reward"] or 0.0 for e in before["episodes"]]
    r1 = [e["reward"] or 0.0 for e in after["episodes"]]
    gain = compare(r0, r1)
    print(f"\nbefore: {statistics.mean(r0):+.3f} +- {sem(r0):.3f} (SEM, {len(r0)} seeds) {before['summary']}")
    print(f"after:  {statistics.mean(r1):+.3f} +- {sem(r1):.3f} (SEM, {len(r1)} seeds) {after['summary']}")
    print(f"after - before: {gain['diff']:+.3f} = {gain['z']:.1f} SEM (goal: > 2)")
    print(f"paired by seed: {gain['diff']:+.3f} +- {gain['paired_sem']:.3f} = {gain['paired_z']:.1f} SEM")
    for s in curve["steps"]:
        print(f"step {s['step']}: mean reward {statistics.mean(s['rewards']):+.3f} ({s['seconds']:.0f} s)")
    print(f"wall time {took:.0f} s")
    out = {"before": before, "after": after, "gain": gain, "curve": curve, "seconds": took}
    out["settings"] = vars(a)
    (a.out / "grpo_curve.json").write_text(json.dumps(out, indent=1, default=str))
    if a.plot:
        draw(a.plot, curve["steps"], r0, r1)


if __name__ == "__main__":
    main()
