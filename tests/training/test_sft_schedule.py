"""What the train tool grew for agents (issue 16, item 5): a time clock for the schedule, the
speed printed early, intermediate checkpoints, and LoRA through PEFT merged into a plain one."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_env.benchmarks.generate import write_train_data
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.training import sft
from ptb_env.training.sft import SFTConfig, lr_factor, train_sft


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def run(config: SFTConfig, seconds_per_step: float, steps: int, monkeypatch, capsys) -> tuple[Any, list]:
    """Drive ``_RunControl`` for ``steps`` steps of a fake clock; returns it and the lrs it set."""
    clock = Clock()
    monkeypatch.setattr(sft.time, "monotonic", clock)
    saves: list[Path] = []
    control = sft._RunControl(config, lambda where: saves.append(where), Path("/x/final_model-steps"))
    opt = SimpleNamespace(param_groups=[{"lr": config.learning_rate}])
    scheduler = SimpleNamespace(_last_lr=[-1.0])  # the rate the Trainer logs
    lrs = []
    flags = SimpleNamespace(should_training_stop=False)
    for step in range(1, steps + 1):
        clock.t += seconds_per_step
        opt.param_groups[0]["lr"] = -1.0  # what the Trainer's own scheduler would have set
        scheduler._last_lr = [-1.0]
        control.step_end(SimpleNamespace(max_steps=steps, global_step=step), flags, opt, scheduler)
        lrs.append(opt.param_groups[0]["lr"])
        assert scheduler._last_lr == [lrs[-1]]  # the log shows the rate the optimizer uses
        if flags.should_training_stop:
            break
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    return control, lrs, lines, saves


def test_a_run_that_fits_keeps_the_step_schedule(monkeypatch, capsys):
    cfg = SFTConfig(max_steps=100, max_seconds=1000, save_fractions=(0.5,))
    control, lrs, lines, saves = run(cfg, 1.0, 100, monkeypatch, capsys)
    assert control.clock == "steps" and set(lrs) == {-1.0}  # the Trainer's schedule, untouched
    speed = lines[0]
    assert speed["event"] == "speed" and speed["step"] == 5 and speed["projected_seconds"] == 100.0
    assert speed["clock"] == "steps" and saves == [Path("/x/final_model-steps/step-50")]


def test_auto_switches_to_time_when_the_steps_cannot_fit_and_the_decay_ends_at_max_seconds(
    monkeypatch, capsys
):
    cfg = SFTConfig(max_steps=1000, max_seconds=100, warmup_ratio=0.05, save_fractions=(0.5,))
    control, lrs, lines, saves = run(cfg, 1.0, 1000, monkeypatch, capsys)
    assert lines[0]["clock"] == "time" and lines[0]["projected_seconds"] == 1000.0
    assert control.clock == "time" and len(lrs) == 101  # stopped just past max_seconds
    assert lrs[:4] == [-1.0] * 4  # before the probe: the step schedule
    assert lrs[49] == pytest.approx(cfg.learning_rate * lr_factor(0.5, 0.05))
    assert lrs[-2] < 1e-6 * cfg.learning_rate and lrs[-1] == 0.0  # the decay ended with the time
    assert saves == [Path("/x/final_model-steps/step-50")]  # half of the *time*


def test_time_schedule_needs_max_seconds_and_settings_are_checked():
    with pytest.raises(ValueError, match="max_seconds"):
        SFTConfig(schedule="time")
    for bad in ({"schedule": "fast"}, {"save_fractions": (1.0,)}, {"save_every_s": 0}, {"lora_r": -1}):
        with pytest.raises(ValueError):
            SFTConfig(**bad)
    assert SFTConfig(save_fractions=(0.75, 0.25, 0.75)).save_fractions == (0.25, 0.75)
    assert lr_factor(0.0, 0.1) == 0.0 and lr_factor(0.1, 0.1) == 1.0 and lr_factor(1.0, 0.1) == 0.0
    assert math.isclose(lr_factor(0.55, 0.1), 0.5)


@pytest.mark.slow
def test_lora_run_saves_plain_intermediate_and_final_checkpoints(tmp_path):
    from safetensors.torch import load_file

    from ptb_env.grading import Grader

    write_train_data("tiny-arith", 64, 0, tmp_path / "d.jsonl")
    cfg = SFTConfig(max_steps=8, batch_size=8, lora_r=4, save_fractions=(0.5,), learning_rate=5e-3)
    out = tmp_path / "final_model"
    metrics = train_sft(TINY_MODEL_DIR, tmp_path / "d.jsonl", out, cfg, progress=False)
    mid = tmp_path / "final_model-steps" / "step-4"
    assert metrics["saved"] == [str(mid)] and metrics["clock"] == "steps" and metrics["steps"] == 8
    grader = Grader("tiny-arith")
    base = load_file(TINY_MODEL_DIR / "model.safetensors")
    for ckpt in (mid, out):
        assert not list(ckpt.glob("adapter_*"))  # merged: a plain checkpoint, no PEFT files
        grader.validate(ckpt)  # the base model's architecture and shapes
        weights = load_file(ckpt / "model.safetensors")
        assert set(weights) == set(base) and any(not (weights[k] == base[k]).all() for k in base)
    assert any(not (load_file(mid / "model.safetensors")[k] == load_file(out / "model.safetensors")[k]).all()
               for k in base)  # fmt: skip


@pytest.mark.slow
def test_the_train_tool_takes_the_new_settings_and_the_job_prints_its_speed(tmp_path):
    env = gym.make("PostTrain-v0", workspace_root=tmp_path, time_limit_s=600)
    try:
        env.reset(seed=0)
        env.step({"tool": "bash", "args": {"command": "python -m ptb_env.benchmarks.generate tiny-arith "
                                                      "--n 64 --out data/train.jsonl"}})  # fmt: skip
        args = {"data": "data/train.jsonl", "max_steps": 8, "batch_size": 8, "save_fractions": [0.5],
                "lora_r": 4, "schedule": "auto"}  # fmt: skip
        _, _, _, _, info = env.step({"tool": "train", "args": args})
        job = info["result"]["job"]["id"]
        _, _, _, _, info = env.step({"tool": "wait", "args": {"job_id": job, "seconds": 500}})
        assert info["result"]["jobs"][0]["exit_code"] == 0, info
        obs, *_ = env.step({"tool": "job_logs", "args": {"job_id": job, "chars": 8000}})
        assert '"event": "speed"' in obs["output"] and '"event": "saved"' in obs["output"]
        obs, _, _, _, info = env.step(
            {"tool": "evaluate", "args": {"model": "final_model-steps/step-4", "limit": 4}}
        )
        assert info["result"]["ok"] and info["result"]["n"] == 4, obs
        bad = {"data": "data/train.jsonl", "save_fractions": [0.5, 2]}
        obs, *_ = env.step({"tool": "train", "args": bad})
        assert "save_fractions[1]" in obs["error"]
    finally:
        env.close()


def test_saved_steps_lists_a_runs_intermediate_checkpoints_by_step_number(tmp_path):
    for n in (10, 9, 100):
        (tmp_path / "final_model-steps" / f"step-{n}").mkdir(parents=True)
    assert [q.name for q in sft.saved_steps(tmp_path / "final_model")] == ["step-9", "step-10", "step-100"]
    assert sft.saved_steps(tmp_path / "other") == []  # a run that saved none
