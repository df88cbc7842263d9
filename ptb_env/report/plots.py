"""The report's plots, drawn by matplotlib and returned as inline SVG markup.

Figures are ``matplotlib.figure.Figure`` objects (no pyplot: no global state, no GUI
backend). Text is written as SVG ``<text>`` (``svg.fonttype = "none"``), which matplotlib
XML-escapes; every label taken from a trajectory is also cut short, stripped of control
characters and drawn with math parsing off (``$`` in an agent name is just a dollar).
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from ptb_env.report.runs import Episode, Row, number, tool_seconds

INSTALL_HINT = 'The report draws its plots with matplotlib: pip install "ptb-env[report]" (or matplotlib).'
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG = re.compile(r"<[^<>]+>")
_ID = re.compile(r'(\sid=)"([^"]*)"')
_REF = re.compile(r'(url\(|href=")#')
_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ptb-report",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(INSTALL_HINT) from err
    return matplotlib


def label(text: Any, limit: int = 40) -> str:
    """A trajectory string made safe as a plot label: one line, printable, at most ``limit`` chars.

    >>> label("a\\nb\\x00c" + "x" * 50, 10)
    'a b cxxxx…'
    """
    s = _CONTROL.sub(" ", str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _styled(plot: Callable[..., str]) -> Callable[..., str]:
    """Draw and save ``plot``'s figure under the report's matplotlib style."""

    @functools.wraps(plot)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        with _matplotlib().rc_context(_STYLE):
            return plot(*args, **kwargs)

    return wrapper


def _figure(width: float = 3.6, height: float = 2.5) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _prefix_ids(svg: str, prefix: str) -> str:
    """Prefix every id and reference to one inside ``svg``'s tags (ids stay unique on the page).

    Only tags are rewritten: text between tags is XML-escaped by matplotlib, so it holds no ``<``.
    """
    if not prefix:
        return svg

    def tag(m: re.Match[str]) -> str:
        t = _ID.sub(lambda a: f'{a.group(1)}"{prefix}-{a.group(2)}"', m.group())
        return _REF.sub(lambda r: f"{r.group(1)}#{prefix}-", t)

    return _TAG.sub(tag, svg)


def to_svg(fig: Any, title: str, prefix: str = "") -> str:
    """The figure as an ``<svg>`` element to inline in HTML.

    No XML prolog; ``role="img"`` with ``title`` as its accessible name; every id inside
    prefixed with ``prefix`` (give each figure of a page its own).
    """
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = _prefix_ids(svg[svg.index("<svg") :], prefix)
    return svg.replace("<svg", f'<svg role="img" aria-label="{escape(label(title, 200))}"', 1)


def _series(ep: Episode, key: str) -> tuple[list[float], list[float]]:
    ts, ys = [], []
    for step in ep.steps:
        t, y = number(step.get("t")), number(step.get(key))
        if t is not None and y is not None and math.isfinite(y):
            ts.append(t)
            ys.append(y)
    return ts, ys


@_styled
def dev_plot(ep: Episode, prefix: str = "") -> str:
    """Dev score over time (each ``evaluate``, the best so far), the base score and the final test score."""
    fig = _figure()
    ax = fig.add_subplot()
    evals = [s for s in ep.steps if s.get("tool") == "evaluate" and number(s.get("dev_score")) is not None]
    ax.plot([number(s["t"]) for s in evals], [number(s["dev_score"]) for s in evals], "o", label="dev score")
    ts, best = _series(ep, "best_dev_score")
    if ts:
        end = number(ep.steps[-1].get("t")) or ts[-1]
        ax.step([*ts, end], [*best, best[-1]], where="post", label="best dev so far")
    base = number(ep.header.get("base_score"))
    if base is not None:
        ax.axhline(base, color="grey", linestyle="--", linewidth=1, label="base (test)")
    result = ep.result or {}
    score = number(result.get("score"))
    if score is not None and ep.steps:
        ax.plot([number(ep.steps[-1].get("t"))], [score], "*", markersize=12, label="final (test)")
    if not evals:
        ax.text(0.5, 0.5, "no dev evaluation", transform=ax.transAxes, ha="center", color="grey")
    ax.set_xlabel("seconds since reset")
    ax.set_ylabel("score")
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]), top=max(ax.get_ylim()[1], 0.05))
    ax.set_xlim(left=0.0)
    ax.legend(loc="best", fontsize=7)
    ax.set_title("dev score over time")
    return to_svg(fig, "dev score over time", prefix)


@_styled
def budget_plot(ep: Episode, prefix: str = "") -> str:
    """Budget burn-down: wall-clock seconds left and steps left against time."""
    fig = _figure()
    ax = fig.add_subplot()
    points = [(number(ep.header.get("reset_seconds")) or 0.0, ep.header.get("budget") or {})]
    points += [(number(s.get("t")) or 0.0, s.get("budget") or {}) for s in ep.steps]
    t = [p[0] for p in points]
    secs = [number(p[1].get("seconds_left")) for p in points]
    steps = [number(p[1].get("steps_left")) for p in points]
    if all(v is not None and math.isfinite(v) for v in secs):
        ax.plot(t, secs, "-o", markersize=3, label="seconds left")
        ax.set_ylim(bottom=0.0)
    else:
        ax.text(0.5, 0.5, "no wall-clock limit", transform=ax.transAxes, ha="center", color="grey")
    ax.set_xlabel("seconds since reset")
    ax.set_ylabel("seconds left")
    if all(v is not None and math.isfinite(v) for v in steps):
        twin = ax.twinx()
        twin.step(t, steps, where="post", color="tab:orange", label="steps left")
        twin.set_ylabel("steps left")
        twin.set_ylim(bottom=0.0)
        twin.grid(False)
        twin.legend(loc="upper right", fontsize=7)
    ax.legend(loc="lower left", fontsize=7)
    ax.set_xlim(left=0.0)
    ax.set_title("budget burn-down")
    return to_svg(fig, "budget burn-down", prefix)


@_styled
def tools_plot(ep: Episode, prefix: str = "") -> str:
    """Wall time per tool (calls in brackets), with reset and grading apart."""
    per = sorted(tool_seconds(ep).items(), key=lambda kv: kv[1][0])
    fig = _figure(height=max(1.6, 0.35 * len(per) + 0.9))
    ax = fig.add_subplot()
    names = [f"{label(k, 24)} ({n})" for k, (_, n) in per]
    ax.barh(range(len(per)), [v[0] for _, v in per], color="tab:blue")
    ax.set_yticks(range(len(per)), names, parse_math=False)
    ax.set_xlabel("seconds")
    ax.set_title("time per tool (calls)")
    return to_svg(fig, "time per tool", prefix)


@_styled
def leaderboard_plot(rows: Sequence[Row], prefix: str = "") -> str:
    """Mean reward per task and agent, with the SEM over seeds as error bars."""
    fig = _figure(width=6.4, height=max(1.8, 0.38 * len(rows) + 1.0))
    ax = fig.add_subplot()
    shown = [r for r in rows if r.reward.mean is not None]
    y = range(len(shown))
    ax.barh(
        y,
        [r.reward.mean for r in shown],
        xerr=[r.reward.sem or 0.0 for r in shown],
        color="tab:green",
        capsize=3,
    )
    ax.set_yticks(
        y, [f"{label(r.task, 28)} · {label(r.agent, 24)} (n={r.n})" for r in shown], parse_math=False
    )
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("reward (mean ± SEM over seeds)")
    ax.set_title("reward per task and agent")
    return to_svg(fig, "reward per task and agent", prefix)
