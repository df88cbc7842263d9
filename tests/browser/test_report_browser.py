"""The HTML report in a real headless Chromium: it loads cleanly and shows its plots and tables.

The report is built from trajectories recorded here with ``RecordTrajectory`` on real
episodes (bubblewrap sandbox, real training and grading, tiny budgets):
``scripted-sft`` (3 optimizer steps) on two seeds, ``noop`` on two seeds, and one
``hostile`` episode whose shell output is HTML and script. The page must load with no
console error, no page error and no request other than the file itself; the screenshot
``report.png`` (the whole page), ``report-hostile-episode.png`` (its step log open) and the
page ``report.html`` are left in the artifacts directory (``$PTB_TEST_ARTIFACTS`` or ``tests/artifacts/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_agents import NoopAgent, ScriptedSFTAgent, ScriptedSFTArgs, run_episode
from ptb_env.report import write_report
from ptb_env.sandbox import SandboxUnavailable, find_bwrap
from ptb_env.wrappers.record import RecordTrajectory

PAYLOAD = "<script>console.error('xss')</script><img src=x onerror=\"console.error('img')\">"


class HostileAgent:
    """Prints HTML and script from the shell, then submits the base model."""

    name = "hostile"

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        self._plan = [
            {"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}},
            {"tool": "bash", "args": {"command": f"printf '%s' {json.dumps(PAYLOAD)}"}},
            {"tool": "submit", "args": {}},
        ]

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        return self._plan.pop(0)


def record_runs(runs: Path, ws: Path) -> int:
    sft = ScriptedSFTArgs(max_steps=3, batch_size=8, dev_limit=5, reserve_s=20.0)
    episodes = [(ScriptedSFTAgent(sft), s) for s in (0, 1)] + [(NoopAgent(), s) for s in (0, 1)]
    episodes.append((HostileAgent(), 0))
    for agent, seed in episodes:
        env = RecordTrajectory(
            gym.make("PostTrain-v0", time_limit_s=180, max_steps=12, workspace_root=ws),
            runs,
            agent=agent.name,
        )
        try:
            result = run_episode(env, agent, seed=seed)
        finally:
            env.close()
        assert result.status == "ok", (agent.name, result.reason)
    return len(episodes)


@pytest.mark.slow
@pytest.mark.require_chromium
def test_the_report_loads_in_chromium_without_errors_and_shows_its_plots(tmp_path, browser, artifacts_dir):
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    n = record_runs(tmp_path / "runs", tmp_path / "ws")
    out = write_report(tmp_path / "runs", artifacts_dir / "report.html", progress=False)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(out.resolve().as_uri(), wait_until="load")
        shot = artifacts_dir / "report.png"
        page.screenshot(path=str(shot), full_page=True)

        assert problems == []
        assert requests == [out.resolve().as_uri()]
        plots = page.locator("figure.plot")
        assert plots.count() == 3 * n + 1
        for i in range(plots.count()):
            svg = plots.nth(i).locator("svg")
            box = svg.bounding_box()
            assert svg.is_visible() and box and box["width"] > 100 and box["height"] > 50, i
        assert page.locator("figure#plot-leaderboard svg").is_visible()
        for kind in ("dev", "budget", "tools"):
            assert page.locator(f"figure.plot-{kind}").count() == n
        table = page.locator("table#leaderboard")
        assert table.is_visible() and table.locator("tbody tr").count() == 3  # scripted-sft, noop, hostile
        assert page.locator("article.episode table.grade").count() == n
        hostile = page.locator("article.episode", has_text="agent hostile")
        assert hostile.count() == 1
        hostile.locator("details.steps summary").click()  # open its step log
        assert hostile.get_by_text(PAYLOAD).first.is_visible()  # the agent's output, shown as text
        hostile.screenshot(path=str(artifacts_dir / "report-hostile-episode.png"))
        assert page.evaluate("document.querySelectorAll('script, img').length") == 0
        assert shot.stat().st_size > 10_000
    finally:
        page.close()
