"""Budget ledgers of an episode: wall clock, steps, dev evaluations and (opt-in) compute.

Each ledger knows how much it has used, what is left and whether it is
exhausted. The :class:`Budget` aggregates them; the env truncates the episode
when any ledger runs out. The wall clock starts at ``reset`` (as in
PostTrainBench, where the budget is the agent's wall-clock time).

This module imports nothing from the package.

Example:
    >>> t = [0.0]
    >>> budget = Budget.from_limits(seconds=60, steps=2, dev_evals=1, clock=lambda: t[0])
    >>> t[0] = 15.0
    >>> budget.charge_step()
    >>> budget.left()
    {'wall_clock_s': 45.0, 'steps': 1, 'dev_evals': 1, 'compute_tflop': inf}
    >>> budget.exhausted()
    False
    >>> budget.charge_step()
    >>> budget.exhausted(), budget.exhausted_ledgers()
    (True, ['steps'])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
"""A monotonic clock in seconds (``time.monotonic`` unless injected by a test)."""


class LedgerExhausted(RuntimeError):
    """A charge against a ledger that has nothing left.

    The env turns it into an observation (``last_action_error``), not a crash.
    """


@dataclass
class WallClock:
    """Wall-clock seconds since the ledger was (re)started.

    Attributes:
        limit_s: Seconds allowed; ``None`` means unlimited.
        clock: Monotonic clock, injectable for tests.
    """

    limit_s: float | None
    clock: Clock = time.monotonic
    _start: float = field(default=0.0, init=False, repr=False)
    _stopped: float | None = field(default=None, init=False, repr=False)

    name = "wall_clock_s"

    def __post_init__(self) -> None:
        if self.limit_s is not None and self.limit_s <= 0:
            raise ValueError(f"Expect a positive wall-clock limit in seconds, actually: {self.limit_s}")
        self.reset()

    def reset(self) -> None:
        """Start counting from now."""
        self._start, self._stopped = self.clock(), None

    def stop(self) -> None:
        """Stop counting (at the episode's end: grading is not charged); ``reset`` restarts it."""
        if self._stopped is None:
            self._stopped = self.clock()

    def used(self) -> float:
        """Seconds elapsed since reset (until :meth:`stop`)."""
        now = self.clock() if self._stopped is None else self._stopped
        return max(0.0, now - self._start)

    def left(self) -> float:
        """Seconds left (``inf`` when unlimited, never negative)."""
        if self.limit_s is None:
            return float("inf")
        return max(0.0, self.limit_s - self.used())

    def exhausted(self) -> bool:
        """Whether no time is left."""
        return self.left() <= 0.0


@dataclass
class Counter:
    """A ledger of discrete charges (steps, dev evaluations).

    Attributes:
        name: Key of this ledger in :meth:`Budget.left`.
        limit: Charges allowed; ``None`` means unlimited.
    """

    name: str
    limit: int | None
    _used: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"Expect a non-negative limit for {self.name!r}, actually: {self.limit}")

    def reset(self) -> None:
        """Forget every charge."""
        self._used = 0

    def used(self) -> int:
        """Charges made since reset."""
        return self._used

    def left(self) -> int | float:
        """Charges left (``inf`` when unlimited)."""
        if self.limit is None:
            return float("inf")
        return max(0, self.limit - self._used)

    def exhausted(self) -> bool:
        """Whether nothing is left."""
        return self.left() <= 0

    def charge(self, n: int = 1, *, strict: bool = False) -> None:
        """Record ``n`` charges.

        Args:
            n: Number of charges.
            strict: Raise instead of charging when fewer than ``n`` are left.

        Raises:
            LedgerExhausted: ``strict`` and not enough left.
        """
        if strict and self.left() < n:
            raise LedgerExhausted(
                f"No {self.name} left ({self._used} of {self.limit} used); "
                "submit the checkpoint or spend the remaining budget otherwise."
            )
        self._used += n


@dataclass
class Compute:
    """A ledger of compute in TFLOP (the opt-in budget that does not depend on the machine).

    What charges it, and at which rates, is :mod:`ptb_env.compute`'s. While ``hold()`` is true
    (a training job it paid for in advance still runs) an empty ledger does not end the episode.

    Attributes:
        limit: TFLOP allowed; ``None`` means unlimited (the wall-clock budget rules).
        hold: Whether work already paid for is still running.
    """

    limit: float | None
    hold: Callable[[], bool] = lambda: False
    _used: float = field(default=0.0, init=False, repr=False)

    name = "compute_tflop"

    def __post_init__(self) -> None:
        if self.limit is not None and not self.limit > 0:
            raise ValueError(f"Expect a positive compute budget in TFLOP, actually: {self.limit}")

    def reset(self) -> None:
        """Forget every charge."""
        self._used = 0.0

    def used(self) -> float:
        """TFLOP charged since reset."""
        return self._used

    def left(self) -> float:
        """TFLOP left (``inf`` when unlimited, never negative)."""
        if self.limit is None:
            return float("inf")
        return max(0.0, self.limit - self._used)

    def exhausted(self) -> bool:
        """Whether nothing is left and no paid work still runs."""
        return self.limit is not None and self.left() <= 0.0 and not self.hold()

    def charge(self, tflop: float) -> None:
        """Record ``tflop`` (never raises: the tools check what is left before they spend it)."""
        self._used += max(0.0, float(tflop))


def Steps(limit: int | None) -> Counter:  # noqa: N802 - reads as a ledger type
    """The ledger of env steps (tool calls)."""
    return Counter("steps", limit)


def DevEvals(limit: int | None) -> Counter:  # noqa: N802 - reads as a ledger type
    """The ledger of evaluations on the dev split."""
    return Counter("dev_evals", limit)


class Budget:
    """The budget of one episode: a wall clock plus counters.

    Args:
        wall_clock: Wall-clock ledger (started at construction; call :meth:`reset`).
        counters: Other ledgers, e.g. ``Steps(200)``, ``DevEvals(10)``.
    """

    def __init__(self, wall_clock: WallClock, *counters: Counter, compute: Compute | None = None) -> None:
        self.wall_clock = wall_clock
        self.compute = compute or Compute(None)
        """The compute ledger (unlimited unless the env runs on the compute budget)."""
        self.counters = {c.name: c for c in counters}
        if len(self.counters) != len(counters):
            raise ValueError("Expect one ledger per name, actually got duplicates.")

    @classmethod
    def from_limits(
        cls,
        seconds: float | None = None,
        steps: int | None = None,
        dev_evals: int | None = None,
        clock: Clock = time.monotonic,
        compute_tflop: float | None = None,
    ) -> Budget:
        """The usual budget; ``None`` leaves a ledger unlimited."""
        counters = (Steps(steps), DevEvals(dev_evals))
        return cls(WallClock(seconds, clock), *counters, compute=Compute(compute_tflop))

    def reset(self) -> None:
        """Restart the clock and clear every counter (at ``env.reset``)."""
        self.wall_clock.reset()
        self.compute.reset()
        for counter in self.counters.values():
            counter.reset()

    def stop(self) -> None:
        """Freeze the clock: the episode is over (its grading is not charged)."""
        self.wall_clock.stop()

    def remaining_seconds(self) -> float:
        """Wall-clock seconds left (``inf`` when unlimited)."""
        return self.wall_clock.left()

    def deadline_epoch(self) -> float | None:
        """The wall-clock deadline as a Unix time (``None`` when unlimited)."""
        left = self.remaining_seconds()
        return None if left == float("inf") else time.time() + left

    def charge_step(self) -> None:
        """Record one env step (never raises: running out truncates the episode)."""
        self.counters["steps"].charge()

    def charge_eval(self) -> None:
        """Record one dev evaluation.

        Raises:
            LedgerExhausted: No dev evaluation is left (nothing is charged).
        """
        self.counters["dev_evals"].charge(strict=True)

    def left(self) -> dict[str, float | int]:
        """What each ledger has left, by name (``inf`` when unlimited)."""
        out: dict[str, float | int] = {self.wall_clock.name: self.wall_clock.left()}
        out.update({name: c.left() for name, c in self.counters.items()})
        out[self.compute.name] = self.compute.left()
        return out

    def exhausted_ledgers(self) -> list[str]:
        """Names of the ledgers that have run out (``dev_evals`` never truncates)."""
        names = [self.wall_clock.name] if self.wall_clock.exhausted() else []
        names += [n for n, c in self.counters.items() if n != "dev_evals" and c.exhausted()]
        names += [self.compute.name] if self.compute.exhausted() else []
        return names

    def exhausted(self) -> bool:
        """Whether the episode must end (time or steps are out)."""
        return bool(self.exhausted_ledgers())
