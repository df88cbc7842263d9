"""The HTML report: built from real recorded episodes, self-contained, escaped, with its statistics.

The module records five short real episodes once (bubblewrap sandbox, real grader,
base-model submissions that the score cache grades once): ``noop`` on two seeds, a
``hostile<b>`` agent whose output is HTML and script, a ``noop`` episode interrupted
before its end, plus one file that is not a trajectory.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_agents import NoopAgent, run_episode
from ptb_env.report import build_report, leaderboard_rows, load_episodes, write_report
from ptb_env.report.runs import Stat
from ptb_env.sandbox import SandboxUnavailable, find_bwrap
from ptb_env.wrappers.record import RecordTrajectory

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "record_and_report.py"
PAYLOAD = "<script>console.error('xss')</script><img src=x onerror=\"console.error('img')\">"


class HostileAgent:
    """Prints HTML and script from the shell, makes an invalid call, evaluates, submits the base model."""

    name = "hostile<b>"

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        self._plan = [
            {"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}},
            {"tool": "bash", "args": {"command": f"printf '%s\\x01' {json.dumps(PAYLOAD)}"}},
            {"tool": "no_such_tool", "args": {"x": PAYLOAD}},
            {"tool": "evaluate", "args": {"limit": 3}},
            {"tool": "submit", "args": {}},
        ]

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        return self._plan.pop(0)


def record(runs: Path, ws: Path, agent: Any, seed: int) -> Path:
    env = RecordTrajectory(
        gym.make("PostTrain-v0", time_limit_s=120, max_steps=10, workspace_root=ws), runs, agent=agent.name
    )
    try:
        run_episode(env, agent, seed=seed)
    finally:
        env.close()
    return env.path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    root = tmp_path_factory.mktemp("report")
    runs, ws = root / "runs", root / "ws"
    record(runs, ws, NoopAgent(), 0)
    record(runs, ws, NoopAgent(), 1)
    record(runs, ws, HostileAgent(), 0)
    env = RecordTrajectory(gym.make("PostTrain-v0", time_limit_s=60, workspace_root=ws), runs, agent="noop")
    try:
        env.reset(seed=2)
        env.step({"tool": "bash", "args": {"command": "echo interrupted"}})
    finally:
        env.close()
    (runs / "results.jsonl").write_text(json.dumps({"agent": "x", "task": "y"}) + "\n")
    return runs


@pytest.fixture(scope="module")
def page(runs: Path) -> str:
    return build_report(runs, progress=False)


class Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


@pytest.mark.slow
def test_the_page_runs_no_script_and_fetches_nothing(page):
    found = tags(page)
    names = {t for t, _ in found}
    assert not names & {"script", "link", "iframe", "object", "embed", "img", "base", "frame"}
    for tag, attrs in found:
        for key in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(key)
            assert value is None or value.startswith("#"), (tag, key, value)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
    csp = [a["content"] for t, a in found if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]
    assert "@import" not in page and not re.search(r"url\((?!#)", page)


def test_agent_output_and_names_are_html_escaped(page):
    assert "<script" not in page.lower() and "<img" not in page.lower() and "hostile<b>" not in page
    assert "&lt;script&gt;console.error(&#x27;xss&#x27;)&lt;/script&gt;" in page  # the output, shown
    assert "hostile&lt;b&gt;" in page and "\\x01" in page  # a control character made visible


def test_each_episode_shows_its_grade_and_three_matplotlib_plots(runs, page):
    episodes, _ = load_episodes(runs, progress=False)
    articles = page.split('<article class="episode"')[1:]
    assert len(articles) == len(episodes) == 4
    for n, (article, ep) in enumerate(zip(articles, episodes, strict=True), 1):
        assert article.startswith(f' id="ep-{n}"')
        for kind in ("dev", "budget", "tools"):
            fig = re.search(
                rf'<figure class="plot plot-{kind}" id="ep-{n}-{kind}"><svg (.*?)</svg>', article, re.S
            )
            assert fig and "Matplotlib" in fig.group(1), (n, kind)
        assert '<table class="grade">' in article and ep.status in article
    finished = [a for a, ep in zip(articles, episodes, strict=True) if ep.result]
    assert len(finished) == 3 and all('<table class="integrity">' in a for a in finished)
    assert all("lineage" in a and "passed" in a for a in finished)
    assert "interrupted" in articles[[ep.result is None for ep in episodes].index(True)]


def test_the_leaderboard_has_mean_and_sem_over_seeds_per_task_and_agent(runs, page):
    episodes, _ = load_episodes(runs, progress=False)
    rows = {(r.task, r.agent): r for r in leaderboard_rows(episodes)}
    assert set(rows) == {("tiny-arith", "noop"), ("tiny-arith", "hostile<b>")}
    noop = rows["tiny-arith", "noop"]
    rewards = [ep.result["reward"] for ep in episodes if ep.agent == "noop" and ep.result]
    assert noop.n == 2 and noop.unfinished == 1 and sorted(noop.seeds) == [0, 1]
    assert noop.reward.mean == statistics.fmean(rewards)
    assert noop.reward.sem == statistics.stdev(rewards) / 2**0.5
    table = re.search(r'<table id="leaderboard".*?</table>', page, re.S).group()
    assert table.count("<tr>") == 3 and "± n/a" in table  # one header row; hostile<b> ran once


def test_sem_is_the_sample_standard_deviation_over_root_n():
    s = Stat.of([0.1, 0.4, 0.4, None, float("nan")])
    assert s.n == 3 and s.mean == pytest.approx(0.3)
    assert s.sem == pytest.approx(statistics.stdev([0.1, 0.4, 0.4]) / 3**0.5)
    assert Stat.of([0.2]).sem is None and Stat.of([]).mean is None


def test_ids_on_the_page_are_unique(page):
    ids = [a["id"] for _, a in tags(page) if a.get("id")]
    assert len(ids) > 50 and len(ids) == len(set(ids))


def test_files_that_are_not_trajectories_are_listed_as_skipped(runs, page):
    _, skipped = load_episodes(runs, progress=False)
    assert [p for p, _ in skipped] == ["results.jsonl"]
    assert "1 files skipped" in page and "results.jsonl" in page


def test_a_missing_runs_dir_is_an_error_that_says_how_to_record(tmp_path):
    with pytest.raises(ValueError, match="RecordTrajectory"):
        build_report(tmp_path / "nope")


def test_write_report_writes_the_page_as_utf8(runs, tmp_path):
    out = write_report(runs, tmp_path / "sub" / "report.html", progress=False)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")


@pytest.mark.slow
def test_the_example_records_episodes_and_writes_a_report(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--agents", "noop", "--seeds", "0,1", "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last == f"report {tmp_path / 'report.html'}"
    assert len(list(tmp_path.glob("*.jsonl"))) == 2 and 'id="ep-2"' in (tmp_path / "report.html").read_text()
