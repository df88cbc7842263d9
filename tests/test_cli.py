import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_evaluate_command_prints_and_writes_scores(tmp_path):
    out = tmp_path / "scores.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ptb_env.cli",
            "evaluate",
            "--benchmark",
            "tiny-arith",
            "--split",
            "dev",
            "--limit",
            "4",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "tiny-arith   dev   score=" in proc.stdout
    rows = json.loads(out.read_text())
    assert rows[0]["n"] == 4 and 0.0 <= rows[0]["score"] <= 1.0


def test_unknown_benchmark_is_a_usage_error():
    proc = subprocess.run(
        [sys.executable, "-m", "ptb_env.cli", "evaluate", "--benchmark", "gsm9k"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "invalid choice: 'gsm9k'" in proc.stderr


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ptb_env.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_list_shows_every_task_and_its_gym_id():
    proc = _cli("list")
    assert proc.returncode == 0, proc.stderr
    for task in ("tiny-arith", "tiny-tools", "tiny-facts"):
        assert f"PostTrain-{task}-v0" in proc.stdout


@pytest.mark.slow
def test_run_noop_prints_progress_and_the_reward_table(tmp_path):
    out = tmp_path / "results.json"
    proc = _cli("run", "--agent", "noop", "--task", "tiny-arith", "--seed", "0", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "step   2" in proc.stdout and "mean reward +0.0000" in proc.stdout
    rows = json.loads(out.read_text())
    assert [r["reward"] for r in rows] == [0.0, 0.0] and {r["status"] for r in rows} == {"ok"}


@pytest.mark.slow
def test_run_on_the_compute_budget(tmp_path):
    out = tmp_path / "results.json"
    args = ("--agent", "noop", "--task", "tiny-arith-short", "--budget", "compute", "--compute-tflop", "2")
    proc = _cli("run", *args, "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in json.loads(out.read_text())] == ["ok"]
    bad = _cli("run", "--agent", "noop", "--budget", "flops")
    assert bad.returncode == 2 and "invalid choice: 'flops'" in bad.stderr


@pytest.mark.slow
def test_eval_grades_a_checkpoint_like_the_env(tmp_path):
    from ptb_env.paths import TINY_MODEL_DIR

    proc = _cli("eval", "--task", "tiny-arith", "--model", str(TINY_MODEL_DIR))
    assert proc.returncode == 0, proc.stderr
    assert "uplift +0.0000" in proc.stdout
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    proc = _cli("eval", "--task", "tiny-arith", "--model", str(tmp_path / "broken"))
    assert proc.returncode == 1 and "invalid checkpoint: config.json is not valid JSON" in proc.stdout


def test_batch_report_and_leaderboard_commands_chain(tmp_path, capsys):
    """`batch --serial` records trajectories; `report` and `leaderboard` read them back."""
    from ptb_env.cli import main

    traj, rows = tmp_path / "runs", tmp_path / "rows.json"
    argv = ["batch", "--agent", "noop", "--seed", "0", "1", "--serial"]
    assert main([*argv, "--trajectories", str(traj), "--json", str(rows)]) == 0
    got = json.loads(rows.read_text())
    assert [(r["agent"], r["seed"], r["status"]) for r in got] == [("noop", 0, "ok"), ("noop", 1, "ok")]
    assert len(list(traj.glob("*.jsonl"))) == 2
    assert main(["report", str(traj), "-o", str(tmp_path / "r.html"), "--quiet"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert html.count('<article class="episode"') == 2
    assert main(["leaderboard", str(traj)]) == 0
    board = capsys.readouterr().out
    assert "noop" in board and "tiny-arith" in board
