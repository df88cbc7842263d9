"""Leaderboard aggregation: PostTrainBench's counting rules, weights and the CLI."""

from __future__ import annotations

import json

import pytest

from ptb_env.cli import main
from ptb_env.leaderboard import aggregate, format_table, load_reference, read_results


def run(agent, task, score, base, status="ok", seed=0):
    return {"agent": agent, "task": task, "seed": seed, "status": status, "score": score, "base_score": base}


def test_reference_weights_match_the_stated_formula():
    ref = load_reference()
    assert "2603.08640" in ref["source"]
    ptb = {b: v for b, v in ref["benchmarks"].items() if "weight" in v}  # the paper's, not the tiny grid's
    assert len(ptb) >= 5
    inv = {b: 1 / (v["instruct"] - v["base"]) for b, v in ptb.items()}
    for b, v in ptb.items():
        assert v["weight"] == pytest.approx(inv[b] / sum(inv.values()), abs=5e-4), b


def test_flagged_invalid_and_failed_runs_count_as_base():
    rows = [
        run("a", "gsm8k/Qwen3-1.7B-Base", 0.9, 0.2, "disqualified"),
        run("a", "gsm8k/Qwen3-4B-Base", 0.9, 0.4, "invalid_checkpoint"),
        run("a", "gsm8k/SmolLM3-3B-Base", 0.9, 0.3, "infra_error"),
        run("a", "gsm8k/gemma-3-4b-pt", 0.5, 0.1),
    ]
    cell = aggregate(rows)["a"]["benchmarks"]["gsm8k"]
    assert cell["score"] == pytest.approx((20 + 40 + 30 + 50) / 4)
    assert cell["flagged"] == 3 and cell["runs"] == 4 and len(cell["models"]) == 4


def test_seeds_then_models_are_averaged():
    rows = [
        run("a", "bfcl/Qwen3-1.7B-Base", 0.2, 0.0, seed=0),
        run("a", "bfcl/Qwen3-1.7B-Base", 0.4, 0.0, seed=1),
        run("a", "bfcl/Qwen3-1.7B-Base", 0.6, 0.0, seed=2),
        run("a", "bfcl/gemma-3-4b-pt", 0.8, 0.0),
    ]
    # cell means 40 and 80: a plain mean over runs would give 50
    assert aggregate(rows)["a"]["benchmarks"]["bfcl"]["score"] == pytest.approx(60.0)


def test_overall_weights_are_renormalised_over_present_benchmarks():
    ref = load_reference()["benchmarks"]
    rows = [run("a", "gsm8k/Qwen3-1.7B-Base", 0.5, 0.2), run("a", "aime2025/Qwen3-1.7B-Base", 0.1, 0.0)]
    board = aggregate(rows)["a"]
    w_g = 1 / (ref["gsm8k"]["instruct"] - ref["gsm8k"]["base"])
    w_a = 1 / (ref["aime2025"]["instruct"] - ref["aime2025"]["base"])
    assert board["overall"] == pytest.approx((w_g * 50 + w_a * 10) / (w_g + w_a))
    assert sum(board["weights"].values()) == pytest.approx(1.0)


def test_tiny_tasks_are_listed_but_not_weighted():
    board = aggregate([run("a", "tiny-arith", 0.6, 0.1)])["a"]
    assert board["benchmarks"]["tiny-arith"]["score"] == pytest.approx(60.0)
    assert board["overall"] is None and "-" in format_table({"a": board}).splitlines()[2]


def test_reads_json_lists_and_jsonl_and_skips_non_results(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([run("a", "gsm8k/Qwen3-1.7B-Base", 0.5, 0.2)]))
    (tmp_path / "sub").mkdir()
    lines = [
        {"type": "episode", "agent": "b", "task": "gsm8k/Qwen3-1.7B-Base"},
        {"type": "step", "i": 1, "action": "ls"},
        {"type": "result", **run("b", "gsm8k/Qwen3-1.7B-Base", 0.3, 0.2)},
    ]
    (tmp_path / "sub" / "t.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "sub" / "crashed.jsonl").write_text(json.dumps(lines[0]) + '\n{"type": "st')
    assert [r["agent"] for r in read_results(tmp_path)] == ["a", "b"]


def test_bad_files_name_the_file_and_field(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"x\.json: not JSON"):
        read_results(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"agent": "a", "task": "gsm8k/Qwen3-1.7B-Base"}))
    with pytest.raises(ValueError, match="missing status, score, base_score"):
        read_results(tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        read_results(tmp_path / "nope")


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    rows = [
        run("good", "gsm8k/Qwen3-1.7B-Base", 0.6, 0.2),
        run("bad", "gsm8k/Qwen3-1.7B-Base", 0.9, 0.2, "disqualified"),
    ]
    (runs / "r.json").write_text(json.dumps(rows))
    assert main(["leaderboard", str(runs), "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("good") and out[3].startswith("bad")  # sorted by overall score
    assert json.loads((tmp_path / "b.json").read_text())["bad"]["benchmarks"]["gsm8k"]["score"] == 20.0
    assert main(["leaderboard", str(tmp_path / "missing")]) == 2


def test_the_tiny_grids_reference_weighs_its_benchmarks(tmp_path, monkeypatch):
    from ptb_env import leaderboard
    from ptb_env.tasks.reference import Recipe, summarise

    cells = [
        {"task": "tiny-arith-v2/tiny-2m", "base": 0.0, "score": 0.4},
        {"task": "tiny-arith-v2/tiny-1m-short", "base": 0.0, "score": 0.2},
        {"task": "tiny-facts-v2/tiny-2m", "base": 0.1, "score": 0.6},
    ]
    path = tmp_path / "tiny_reference.json"
    path.write_text(json.dumps(summarise(cells, Recipe())))
    monkeypatch.setattr(leaderboard, "TINY_REFERENCE_FILE", path)
    ref = load_reference()
    assert ref["benchmarks"]["tiny-arith-v2"]["instruct"] == pytest.approx(30.0)  # mean over models
    assert "gsm8k" in ref["benchmarks"] and "Tiny grid" in ref["source"]
    rows = [run("a", "tiny-arith-v2/tiny-2m", 0.3, 0.0), run("a", "tiny-facts-v2/tiny-2m", 0.2, 0.1)]
    board = aggregate(rows)["a"]
    w_arith, w_facts = 1 / 30.0, 1 / 50.0  # 1 / (instruct - base)
    assert board["overall"] == pytest.approx((w_arith * 30 + w_facts * 20) / (w_arith + w_facts))
