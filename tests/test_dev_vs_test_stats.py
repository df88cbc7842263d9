"""The figures ``tests/perf/dev_vs_test.py`` reports: Spearman with tied ranks, and ordered pairs."""

from __future__ import annotations

import math
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parent / "perf" / "dev_vs_test.py"


@pytest.fixture(scope="module")
def dvt():
    """The script's functions, its ``main`` not run."""
    return SimpleNamespace(**runpy.run_path(str(SCRIPT), run_name="ptb_dev_vs_test"))


def test_spearman_of_a_monotone_relation_is_one_either_way(dvt):
    assert dvt.spearman([1, 2, 3, 4], [0.1, 0.5, 0.6, 0.9]) == pytest.approx(1.0)
    assert dvt.spearman([4, 3, 2, 1], [0.1, 0.5, 0.6, 0.9]) == pytest.approx(-1.0)


def test_spearman_gives_ties_their_average_rank(dvt):
    # ranks 0.5, 0.5, 2 against 0, 1, 2: covariance 1.5 over sqrt(1.5 * 2)
    assert dvt.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(1.5 / 2))


def test_spearman_of_a_constant_side_is_nan(dvt):
    assert math.isnan(dvt.spearman([0.2, 0.2, 0.2], [0.1, 0.2, 0.3]))


def test_ordered_counts_only_pairs_at_least_gap_apart_on_y(dvt):
    # pairs 0.05 apart on y: (0, 1), (0, 2), (1, 2); x orders (0, 1) the same way, the others not
    assert dvt.ordered([1, 2, 3], [0.1, 0.2, 0.0], 0.05) == (1, 3)
    # y 0.01 apart is no pair; a tie on x orders no pair right
    assert dvt.ordered([1, 2], [0.10, 0.11], 0.05) == (0, 0)
    assert dvt.ordered([1, 1], [0.1, 0.3], 0.05) == (0, 1)
