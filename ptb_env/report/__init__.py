"""The HTML report of recorded runs: per-episode plots and a leaderboard per task and agent.

``ptb-env report RUNS_DIR`` (or ``write_report``) reads the trajectory files that
``ptb_env.wrappers.RecordTrajectory`` writes and builds one self-contained HTML page:

- across episodes: a table per task and agent with the mean ± SEM over seeds of the
  reward and the score, and a plot of the rewards;
- per episode: the final grade (status, score, base, reward, reason, integrity verdicts),
  dev score over time, budget burn-down, time per tool, and the step log.

Plots are drawn by matplotlib (``pip install "ptb-env[report]"``) and inlined as SVG;
the page loads nothing from anywhere.

>>> from ptb_env.report import write_report  # doctest: +SKIP
>>> write_report("runs", "runs/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from ptb_env.report.runs import Episode, Row, Stat, leaderboard_rows, load_episodes


def build_report(
    runs_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    progress: bool = True,
    output_chars: int = 600,
) -> str:
    """The HTML page of the trajectories under ``runs_dir``.

    Args:
        runs_dir: Directory of trajectory files (searched recursively).
        title: Page title (default: ``"PostTrain runs: <runs_dir>"``).
        progress: Show progress bars (reading files, drawing episodes).
        output_chars: Characters shown of each action, error and output in the step logs.

    Raises:
        ValueError: ``runs_dir`` is not a directory.
        ImportError: matplotlib is missing (the message says how to install it).
    """
    from tqdm.auto import tqdm

    from ptb_env.report import page, plots

    plots._matplotlib()  # fail early, with the install command
    episodes, skipped = load_episodes(runs_dir, progress=progress)
    rows = leaderboard_rows(episodes)
    parts = [
        page.episode_html(n, ep, output_chars)
        for n, ep in enumerate(
            tqdm(episodes, desc="drawing episodes", unit="episode", disable=not progress or not episodes), 1
        )
    ]
    return page.page_html(title or f"PostTrain runs: {runs_dir}", episodes, rows, skipped, parts)


def write_report(
    runs_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], **kwargs: object
) -> Path:
    """Write ``build_report(runs_dir, **kwargs)`` to ``out_path`` (UTF-8); returns the path."""
    html = build_report(runs_dir, **kwargs)  # type: ignore[arg-type]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8", errors="backslashreplace")
    return out


__all__ = ["Episode", "Row", "Stat", "build_report", "leaderboard_rows", "load_episodes", "write_report"]
