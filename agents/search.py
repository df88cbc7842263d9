"""search: successive halving over the ``train`` tool's recipes, on dev scores, within the budget.

The plan, sized to the budget left at each decision:

1. Generate one pool of training data (enough for the whole run).
2. Round 0: every arm (a recipe: learning rate, batch size) trains from the base
   model into ``runs/armI`` for an equal slice of time; each is scored on
   ``dev_limit`` dev items.
3. Later rounds keep the best ``1/eta`` of the arms; each survivor *continues* its
   own checkpoint (``train(init=runs/armI)``, a warm restart of the schedule), so no
   survivor's training is thrown away.
4. When one arm is left it trains, again from its own checkpoint, for all the time
   left into ``final_model``; that result is scored, and if it scores below the arm's
   last checkpoint by more than ``regress_margin`` (a diverged continuation), the
   earlier checkpoint is submitted instead.

The cost of the search is the losers' training time, one job start-up per job
(``STARTUP_S``) and one dev evaluation per arm and round: it pays off when the
arms differ more than that costs (see docs/env.md for measured figures).
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ptb_agents.steps import (
    STARTUP_S,
    Episode,
    Plan,
    PlanAgent,
    evaluate,
    generate_data,
    seconds_left,
    train_and_wait,
    train_stats,
)


@dataclass(frozen=True)
class Arm:
    """One recipe of the search."""

    learning_rate: float
    batch_size: int = 32

    @property
    def label(self) -> str:
        return f"lr={self.learning_rate:g} bs={self.batch_size}"


@dataclass(frozen=True)
class SearchArgs:
    """Settings of the successive-halving search."""

    arms: tuple[Arm, ...] = (Arm(2e-3), Arm(3.5e-3), Arm(5e-3))
    """Recipes compared in round 0."""
    eta: int = 3
    """Each round keeps the best ``ceil(n / eta)`` arms."""
    round_share: float = 0.3
    """Share of the training time left that one non-final round spends (split among its arms)."""
    steps_per_second: float = 2.5
    """Optimizer steps per second planned before the first job has measured the real rate
    (each job's steps are sized to its time slice so that its schedule completes)."""
    reserve_s: float = 25.0
    """Seconds kept after the last training job for the final check and submitting."""
    rate_margin: float = 1.0
    """Each job plans ``rate_margin`` times the steps its slice allows at the measured rate.
    Below 1 the schedule surely ends before the time limit, but the rate measured on the
    short round-0 jobs already underestimates a long job's (likely because the length-grouped
    sampler puts the longest batch first): 0.85 ended the final jobs 20-45 s early and lost
    reward (docs/env.md)."""
    eval_s: float = 4.0
    """Planned seconds of one dev evaluation, until the first one has been timed."""
    dev_limit: int = 100
    """Dev items per comparison."""
    regress_margin: float = 0.03
    """The final checkpoint is replaced by the winner's previous one if it scores lower by more."""
    max_examples: int = 40_000
    """Most training examples generated."""
    max_steps_per_job: int | None = None
    """Cap on each job's optimizer steps (for short, load-independent runs such as tests)."""

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("Expect at least one arm to search.")
        if self.eta < 2 or not 0 < self.round_share < 1:
            raise ValueError(
                f"Expect eta >= 2 and 0 < round_share < 1, actually: {self.eta}, {self.round_share}"
            )


class SearchAgent(PlanAgent):
    """Budget-aware successive halving with warm starts; ``history`` records every decision."""

    name = "search"

    def __init__(self, args: SearchArgs = SearchArgs()) -> None:
        self.args = args
        self.history: list[dict[str, Any]] = []

    def _start(self) -> None:
        self.history = []
        self.rate = self.args.steps_per_second
        self.eval_s = self.args.eval_s

    def _train_time(self, obs: dict[str, Any], jobs: int, evals: int) -> float:
        """Seconds of training left after ``jobs`` start-ups, ``evals`` dev checks and the reserve."""
        a = self.args
        return seconds_left(obs) - a.reserve_s - jobs * STARTUP_S - evals * self.eval_s

    def _rounds_left(self, n: int) -> int:
        """Non-final rounds still needed to get from ``n`` arms down to one."""
        rounds = 0
        while n > 1:
            n, rounds = math.ceil(n / self.args.eta), rounds + 1
        return rounds

    def _steps(self) -> Episode:
        a = self.args
        obs = yield None  # primed by reset
        # the data pool: one epoch of every step the run can take, whichever arm wins
        total = self._train_time(obs, len(a.arms) + self._rounds_left(len(a.arms)) + 1, 2 * len(a.arms))
        batch = max(arm.batch_size for arm in a.arms)
        # (with headroom: the real step rate, measured later, may beat the planned one)
        n = min(a.max_examples, max(1000, int(1.5 * a.steps_per_second * max(total, 10.0)) * batch))
        obs = yield from generate_data(self.benchmark, n, self.seed)

        alive = list(range(len(a.arms)))
        scores: dict[int, float] = {}
        started: set[int] = set()
        rnd = 0
        while len(alive) > 1:
            # jobs and dev checks still to come: this round, later rounds, the final job and check
            later = self._rounds_left(len(alive)) - 1
            jobs = len(alive) + later * math.ceil(len(alive) / a.eta) + 1
            budget = self._train_time(obs, jobs, len(alive) + later * len(alive) + 1)
            per_arm = max(5.0, a.round_share * budget / len(alive))
            for i in alive:
                obs = yield from self._train(self._train_args(i, rnd, per_arm, i in started))
                started.add(i)
                score = yield from self._evaluate(f"runs/arm{i}")
                scores[i] = -1.0 if score is None else score
                self.history.append({"round": rnd, "arm": a.arms[i].label, "seconds": per_arm, "dev": score})
            alive = sorted(alive, key=lambda i: -scores[i])[: math.ceil(len(alive) / a.eta)]
            rnd += 1

        best = alive[0]
        final_s = max(5.0, self._train_time(obs, 1, 1))
        args = self._train_args(best, rnd, final_s, best in started)
        args["out"] = "final_model"
        obs = yield from self._train(args)
        final = yield from self._evaluate("final_model")
        self.history.append({"round": rnd, "arm": a.arms[best].label, "seconds": final_s, "dev": final})
        earlier = scores.get(best)
        if earlier is not None and (final is None or final < earlier - a.regress_margin):
            self.history.append({"fallback": f"runs/arm{best}", "dev": earlier})
            yield {
                "tool": "bash",
                "args": {"command": f"rm -rf final_model && cp -r runs/arm{best} final_model"},
            }
        yield {"tool": "submit", "args": {}}

    def _train(self, args: dict[str, Any]) -> Plan:
        """Run one job; learn the machine's real step rate from its summary."""
        obs, job = yield from train_and_wait(args)
        if job is not None:
            stats = yield from train_stats(job)
            if stats and stats["train_seconds"] >= 5 and stats["steps"] >= 5:
                self.rate = stats["steps"] / stats["train_seconds"]
        return obs

    def _evaluate(self, model: str) -> Generator[dict[str, Any], dict[str, Any], float | None]:
        """Score ``model`` on dev; learn how long a dev check takes."""
        t0 = time.monotonic()
        score = yield from evaluate(model, self.args.dev_limit)
        if score is not None:
            self.eval_s = time.monotonic() - t0
        return score

    def _train_args(self, i: int, rnd: int, seconds: float, resume: bool) -> dict[str, Any]:
        arm = self.args.arms[i]
        return {
            "data": "data/train.jsonl",
            "out": f"runs/arm{i}",
            "init": f"runs/arm{i}" if resume else "base_model",
            "learning_rate": arm.learning_rate,
            "batch_size": arm.batch_size,
            "max_steps": min(
                max(1, int(self.args.rate_margin * self.rate * seconds)),
                self.args.max_steps_per_job or 1 << 30,
            ),
            "max_seconds": seconds,
            # a new data order each round, so a continued arm sees fresh examples first
            "seed": self.seed * 1000 + rnd,
        }
