"""The tiny grid: each headroom benchmark on each tiny base model, registered, graded like the rest."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from ptb_env.registration import recipe_id
from ptb_env.tasks import get_task, gym_id, list_tasks
from ptb_env.tasks.tiny import GRID_BENCHMARKS, GRID_TASKS, TINY_MODELS

GRID_IDS = [t.id for t in GRID_TASKS]


def test_the_grid_has_every_benchmark_on_every_model_once():
    assert len(GRID_IDS) == len(set(GRID_IDS)) == len(GRID_BENCHMARKS) * len(TINY_MODELS) >= 9
    assert {(get_task(t).benchmark, t.split("/")[1]) for t in GRID_IDS} == {
        (b, m) for b in GRID_BENCHMARKS for m in TINY_MODELS
    }


@pytest.mark.parametrize("task", GRID_IDS)
def test_each_grid_task_is_registered_with_its_base_model(task):
    spec = get_task(task)
    model = task.split("/")[1]
    assert task in list_tasks("tiny")
    assert spec.base_model == str(TINY_MODELS[model])
    assert json.loads((TINY_MODELS[model] / "config.json").read_text())["architectures"] == [
        "Qwen3ForCausalLM"
    ]
    assert spec.dev_split == "dev-shift" and model in spec.title
    assert gym.spec(gym_id(task)).kwargs["task"] == task
    assert gym.spec(recipe_id(task)).kwargs["task"] == task
    assert "/" not in gym_id(task) and "/" not in recipe_id(task)  # a "/" is a Gymnasium namespace


def test_the_shipped_reference_weighs_every_grid_cell():
    """The leaderboard's tiny weights come from one reference figure per cell (a benchmark added to
    the grid without them would be listed, never weighted)."""
    from ptb_env.leaderboard import TINY_REFERENCE_FILE

    ref = json.loads(TINY_REFERENCE_FILE.read_text())["benchmarks"]
    assert set(ref) == set(GRID_BENCHMARKS)
    for bench, entry in ref.items():
        assert set(entry["models"]) == set(TINY_MODELS), bench
        assert entry["instruct"] > entry["base"], bench  # a weight is 1 / (instruct - base)


def test_the_models_differ_in_size_and_chat_format():
    from transformers import AutoTokenizer

    sizes = {m: json.loads((p / "build_info.json").read_text())["parameters"] for m, p in TINY_MODELS.items()}
    assert sizes["tiny-1m-short"] < sizes["tiny-2m"] / 2
    talk = [{"role": "user", "content": "hi"}]
    rendered = {
        m: AutoTokenizer.from_pretrained(p).apply_chat_template(
            talk, add_generation_prompt=True, tokenize=False
        )
        for m, p in TINY_MODELS.items()
    }
    assert (
        rendered["tiny-2m"]
        == rendered["tiny-1m-short"]
        == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert rendered["tiny-2m-gemma"] == "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"


@pytest.mark.slow
def test_the_reference_recipe_trains_a_gemma_style_cell_and_scores_it(tmp_path):
    """The grid's other chat format goes through the whole path: the generator's data, SFT with
    Gemma's turns (no system role: tools' system prompt opens the user turn), scoring."""
    from transformers import AutoTokenizer

    from ptb_env.tasks.reference import Recipe, train_and_score

    recipe = Recipe(steps=4, batch_size=4)
    cell = train_and_score("tiny-tools-v2/tiny-2m-gemma", recipe, tmp_path, split="dev")
    assert cell["task"] == "tiny-tools-v2/tiny-2m-gemma" and cell["steps"] == 4
    assert 0.0 <= cell["base"] <= 0.05 and 0.0 <= cell["score"] <= 1.0
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert tok.chat_template == AutoTokenizer.from_pretrained(TINY_MODELS["tiny-2m-gemma"]).chat_template
    first = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["role"] == "system"  # the data stays role-generic; the template folds it
