"""Budget ledgers with an injected clock."""

from __future__ import annotations

import math

import pytest

from ptb_env.budget import Budget, LedgerExhausted, Steps


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_wall_clock_counts_from_reset():
    clock = FakeClock()
    b = Budget.from_limits(seconds=10, clock=clock)
    clock.t += 4
    assert b.remaining_seconds() == 6
    b.reset()
    assert b.remaining_seconds() == 10
    clock.t += 11
    assert b.remaining_seconds() == 0 and b.exhausted() and b.exhausted_ledgers() == ["wall_clock_s"]


def test_steps_and_evals():
    b = Budget.from_limits(steps=2, dev_evals=1, clock=FakeClock())
    b.charge_eval()
    with pytest.raises(LedgerExhausted, match="No dev_evals left"):
        b.charge_eval()
    assert not b.exhausted()  # running out of dev evaluations does not end the episode
    b.charge_step()
    b.charge_step()
    assert b.exhausted_ledgers() == ["steps"]
    assert b.left() == {"wall_clock_s": math.inf, "steps": 0, "dev_evals": 0, "compute_tflop": math.inf}


def test_unlimited_and_deadline():
    b = Budget.from_limits(clock=FakeClock())
    assert b.deadline_epoch() is None and not b.exhausted()
    assert Budget.from_limits(seconds=5).deadline_epoch() is not None


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        Budget.from_limits(seconds=0)
    with pytest.raises(ValueError, match="non-negative"):
        Steps(-1)
