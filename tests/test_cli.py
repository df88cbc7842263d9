import json
import subprocess
import sys


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
