"""The report's HTML: one self-contained page (inline CSS and SVG, no script, no fetch).

Everything read from a trajectory (agent output, actions, errors, names) is untrusted:
it is HTML-escaped after control characters and lone surrogates are made visible, and a
Content-Security-Policy forbids scripts and every fetch, so a missed escape still could
not run code or reach the network.

Stable hooks for tools and tests: ``table#leaderboard``, ``figure#plot-leaderboard``,
``article.episode`` (``id="ep-<n>"``), ``figure.plot`` with ``plot-dev``,
``plot-budget`` or ``plot-tools``, ``table.grade``, ``table.integrity``, ``details.steps``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ptb_env.report import plots
from ptb_env.report.runs import Episode, Row, Stat, number
from ptb_env.text import truncate_middle

_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; padding: 0 1rem;
       color: #222; }
h1 { font-size: 1.4rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5rem; }
figure.plot { margin: 0; border: 1px solid #eee; padding: 0.25rem; }
figure.plot svg { display: block; max-width: 100%; height: auto; }
figure.plot figcaption { font-size: 0.75rem; color: #666; max-width: 340px; }
article.episode { border-top: 2px solid #888; margin-top: 1.5rem; }
.status-ok { color: #176d2c; } .status-bad { color: #a31515; font-weight: bold; }
pre { white-space: pre-wrap; word-break: break-all; margin: 0; max-height: 16rem; overflow: auto;
      font-size: 0.75rem; background: #fafafa; }
.muted { color: #777; }
"""


def esc(value: Any) -> str:
    """``value`` as HTML text: control characters and lone surrogates shown as escapes, then escaped.

    >>> esc('<script>alert("x")</script>\\x00')
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\\\\x00'
    """
    text = _INVISIBLE.sub(lambda m: ascii(m.group())[1:-1], str(value))
    return html.escape(text, quote=True)


def fmt(value: Any, digits: int = 4, sign: bool = False) -> str:
    """A number for a table cell (``–`` when missing)."""
    x = number(value)
    if x is None:
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def pm(stat: Stat, sign: bool = False) -> str:
    """``mean ± SEM`` (``± n/a`` from a single run)."""
    if stat.mean is None:
        return "–"
    return f"{fmt(stat.mean, sign=sign)} ± {fmt(stat.sem) if stat.sem is not None else 'n/a'}"


def _status(status: str) -> str:
    cls = "status-ok" if status == "ok" else "status-bad"
    return f'<span class="{cls}">{esc(status)}</span>'


def _figure(svg: str, kind: str, ident: str, caption: str) -> str:
    return (
        f'<figure class="plot plot-{kind}" id="{ident}">{svg}<figcaption>{esc(caption)}</figcaption></figure>'
    )


def leaderboard_html(rows: Sequence[Row]) -> str:
    """The table per task and agent, and its plot."""
    if not rows:
        return '<p class="muted">No episodes.</p>'
    head = (
        "<tr><th>task</th><th>agent</th><th>n</th><th>reward (mean ± SEM)</th>"
        "<th>score (mean ± SEM)</th><th>base</th><th>flagged</th><th>unfinished</th><th>seeds</th></tr>"
    )
    body = []
    for r in rows:
        seeds = ", ".join(esc(s) for s in r.seeds)
        body.append(
            f"<tr><td>{esc(r.task)}</td><td>{esc(r.agent)}</td><td class='num'>{r.n}</td>"
            f"<td class='num'>{pm(r.reward, sign=True)}</td><td class='num'>{pm(r.score)}</td>"
            f"<td class='num'>{fmt(r.base.mean)}</td><td class='num'>{r.flagged}</td>"
            f"<td class='num'>{r.unfinished}</td><td>{seeds}</td></tr>"
        )
    table = f'<table id="leaderboard" class="leaderboard"><thead>{head}</thead>'
    table += f"<tbody>{''.join(body)}</tbody></table>"
    note = (
        '<p class="muted">SEM: standard error of the mean over finished episodes (seeds); n/a from one run. '
        "Score counts a run as PostTrainBench does: its test score when the status is ok, else the "
        "base model's.</p>"
    )
    plot = ""
    if any(r.reward.mean is not None for r in rows):
        plot = _figure(
            plots.leaderboard_plot(rows, "plot-leaderboard"),
            "leaderboard",
            "plot-leaderboard",
            "bars: mean reward; whiskers: SEM over seeds",
        )
    return table + note + plot


def _grade_html(ep: Episode) -> str:
    r = ep.result
    if r is None:
        why = (
            ep.end.get("reason") or ep.end.get("error")
            if ep.end
            else "no result line: still running or crashed"
        )
        return (
            f'<table class="grade"><tr><th>status</th><td>{_status(ep.status)}: {esc(why)}</td></tr></table>'
        )
    cells = [
        ("status", _status(str(r.get("status", "")))),
        ("score (test)", fmt(r.get("score"))),
        ("base score", fmt(r.get("base_score"))),
        ("reward", fmt(r.get("reward"), sign=True)),
        ("reason", esc(r.get("reason") or "")),
        ("steps", esc(r.get("steps"))),
        ("seconds", fmt(r.get("seconds"), 1)),
        (
            "ended by",
            "submit"
            if r.get("terminated")
            else "budget: " + esc(", ".join(map(str, r.get("truncated_by") or []))),
        ),
    ]
    grade = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in cells)
    verdicts = []
    for name, v in (r.get("integrity") or {}).items():
        if not isinstance(v, dict):
            continue
        passed = bool(v.get("passed"))
        verdicts.append(
            f"<tr><td>{esc(name)}</td><td class='{'status-ok' if passed else 'status-bad'}'>"
            f"{'passed' if passed else 'failed'}</td><td>{esc(v.get('reason') or '')}</td></tr>"
        )
    integrity = (
        '<table class="integrity"><tr><th>integrity check</th><th>verdict</th><th>reason</th></tr>'
        + "".join(verdicts)
        + "</table>"
        if verdicts
        else '<p class="muted">No integrity verdicts.</p>'
    )
    return f'<table class="grade">{grade}</table>{integrity}'


def _steps_html(ep: Episode, output_chars: int) -> str:
    rows = []
    for s in ep.steps:
        action = s.get("action")
        text = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)
        output = str(s.get("output_head") or "")
        if s.get("output_tail"):
            output += "\n[…]\n" + str(s["output_tail"])
        budget = s.get("budget") or {}
        left = f"{fmt(budget.get('seconds_left'), 0)} s, {fmt(budget.get('steps_left'), 0)} steps"
        rows.append(
            f"<tr><td class='num'>{esc(s.get('i'))}</td><td class='num'>{fmt(s.get('t'), 1)}</td>"
            f"<td>{esc(s.get('tool') or '(invalid call)')}</td>"
            f"<td><pre>{esc(truncate_middle(text, output_chars))}</pre></td>"
            f"<td class='num'>{fmt(s.get('seconds'), 2)}</td><td>{left}</td>"
            f"<td class='num'>{fmt(s.get('dev_score'))}</td>"
            f"<td><pre>{esc(truncate_middle(str(s.get('error') or ''), output_chars))}</pre></td>"
            f"<td><pre>{esc(truncate_middle(output, output_chars))}</pre></td></tr>"
        )
    head = (
        "<tr><th>#</th><th>t (s)</th><th>tool</th><th>action</th><th>step s</th><th>budget left</th>"
        "<th>dev</th><th>error</th><th>output</th></tr>"
    )
    return (
        f'<details class="steps"><summary>{len(ep.steps)} steps</summary>'
        f"<table>{head}{''.join(rows)}</table></details>"
    )


def episode_html(n: int, ep: Episode, output_chars: int = 600) -> str:
    """One episode: header, grade, integrity verdicts, three plots and the step log."""
    h = ep.header
    meta = (
        f"agent <b>{esc(ep.agent)}</b> · task <b>{esc(ep.task)}</b> · seed {esc(ep.seed)} · "
        f"started {esc(h.get('started_at', '?'))} · episode {esc(h.get('episode_id', '?'))} · "
        f"<span class='muted'>{esc(ep.path)}</span>"
    )
    figs = [
        _figure(
            plots.dev_plot(ep, f"ep-{n}-dev"),
            "dev",
            f"ep-{n}-dev",
            "dots: each evaluate; line: best dev so far; dashed: base (test); star: final (test)",
        ),
        _figure(plots.budget_plot(ep, f"ep-{n}-budget"), "budget", f"ep-{n}-budget", "after each step"),
        _figure(
            plots.tools_plot(ep, f"ep-{n}-tools"), "tools", f"ep-{n}-tools", "wall seconds; grading apart"
        ),
    ]
    return (
        f'<article class="episode" id="ep-{n}"><h3>Episode {n}: {_status(ep.status)}</h3><p>{meta}</p>'
        f'{_grade_html(ep)}<div class="plots">{"".join(figs)}</div>{_steps_html(ep, output_chars)}</article>'
    )


def _index_html(episodes: Sequence[Episode]) -> str:
    rows = []
    for n, ep in enumerate(episodes, 1):
        r = ep.result or {}
        rows.append(
            f"<tr><td><a href='#ep-{n}'>{n}</a></td><td>{esc(ep.agent)}</td><td>{esc(ep.task)}</td>"
            f"<td>{esc(ep.seed)}</td><td>{_status(ep.status)}</td>"
            f"<td class='num'>{fmt(r.get('reward'), sign=True)}</td>"
            f"<td class='num'>{len(ep.steps)}</td><td class='num'>{fmt(r.get('seconds'), 1)}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("#", "agent", "task", "seed", "status", "reward", "steps", "s"))
    return f'<table id="episodes"><tr>{head}</tr>{"".join(rows)}</table>'


def page_html(
    title: str,
    episodes: Sequence[Episode],
    rows: Sequence[Row],
    skipped: Sequence[tuple[str, str]],
    episode_parts: Sequence[str],
) -> str:
    """The whole page from its rendered parts."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    finished = sum(ep.result is not None for ep in episodes)
    skipped_html = ""
    if skipped:
        items = "".join(f"<li>{esc(p)}: {esc(why)}</li>" for p, why in skipped)
        summary = f"<summary>{len(skipped)} files skipped (not trajectories)</summary>"
        skipped_html = f"<details>{summary}<ul>{items}</ul></details>"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class='muted'>{len(episodes)} episodes ({finished} finished), "
        f"generated {now} by ptb_env.report.</p>{skipped_html}"
        "<section id='leaderboard-section'><h2>Leaderboard per task and agent</h2>"
        f"{leaderboard_html(rows)}</section>"
        f"<section id='episodes-section'><h2>Episodes</h2>{_index_html(episodes)}"
        f"{''.join(episode_parts)}</section>"
        "</body></html>\n"
    )
