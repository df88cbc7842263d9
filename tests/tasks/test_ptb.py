"""The PostTrainBench grid: task specs, forced chat templates, task cards, base-model resolution."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.errors import ModelNotAvailable
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.tasks import PTB_TASKS, get_task, gym_id, list_tasks, ptb_task
from ptb_env.tasks.card import render_task_card
from ptb_env.tasks.models import MODELS_DIR_ENV, resolve_model
from ptb_env.tasks.ptb import PTB_BENCHMARK_INFO, PTB_MODELS

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
]


def test_grid_has_every_model_and_benchmark_once():
    ids = {t.id for t in PTB_TASKS}
    assert len(ids) == len(PTB_TASKS) == 20
    assert ids == {f"{b}/{m.name}" for b in PTB_BENCHMARK_INFO for m in PTB_MODELS}
    assert set(list_tasks("ptb")) == ids
    assert "tiny-arith" in list_tasks("tiny") and "tiny-arith" not in list_tasks("ptb")


@pytest.mark.parametrize("task", PTB_TASKS, ids=lambda t: t.id)
def test_each_task_is_complete_and_registered(task):
    assert task.world == "ptb" and task.time_limit_s == 10 * 3600 and task.gpus == 1
    assert "/" in task.base_model and task.base_model_revision
    assert Path(task.chat_template).is_file() and task.stop_tokens
    assert task.dev_split == "dev" and task.inference_backend == "auto"
    assert gym.spec(gym_id(task.id)).kwargs["task"] == task.id


def test_dev_limits_follow_posttrainbench():
    limits = {b: get_task(f"{b}/Qwen3-1.7B-Base").dev_limit for b in PTB_BENCHMARK_INFO}
    assert limits["gsm8k"] == limits["humaneval"] == 150 and limits["gpqa-main"] == 50
    assert limits["aime2025"] >= 30 and limits["bfcl"] >= 1000  # in full


def test_variants_change_budget_gpus_network_and_dev_split():
    t = ptb_task("gsm8k", "Qwen3-4B-Base", hours=1, gpus=8, network=False, faithful=True, revision="abc")
    assert t.id == "gsm8k/Qwen3-4B-Base-1h" and t.time_limit_s == 3600 and t.gpus == 8
    assert not t.network and t.dev_split == "test" and t.base_model_revision == "abc"
    with pytest.raises(KeyError):
        ptb_task("gsm8k", "Llama-3-8B")


def test_card_states_posttrainbench_rules():
    card = render_task_card(get_task("humaneval/gemma-3-4b-pt"), {})
    for phrase in ("Do not train on the benchmark's test data", "Do not modify the evaluation",
                   "must run in this environment", "timer", "given base model only", "1 GPU"):  # fmt: skip
        assert phrase in card, phrase
    faithful = render_task_card(ptb_task("gsm8k", "Qwen3-1.7B-Base", faithful=True), {})
    assert "subset of the test split" in faithful and "gsm8k-dev.jsonl" not in faithful


@pytest.fixture(scope="module")
def tiny_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TINY_MODEL_DIR)


CHATML = (
    "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"
)
GEMMA = (
    "{bos}<start_of_turn>user\nAnswer briefly.\n\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"
    "4<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n<start_of_turn>model\n"
)


@pytest.mark.parametrize(("family", "expected"), [("qwen3", CHATML), ("smollm3", CHATML), ("gemma3", GEMMA)])
def test_family_templates_render_through_transformers(tiny_tokenizer, family, expected):
    template = (Path(ptb_env.__file__).parent / "tasks" / "templates" / f"{family}.jinja").read_text()
    text = tiny_tokenizer.apply_chat_template(
        MESSAGES, chat_template=template, add_generation_prompt=True, tokenize=False
    )
    assert text == expected.format(bos=tiny_tokenizer.bos_token or "")


def test_resolve_model_takes_directories_and_mirrors(tmp_path, monkeypatch):
    assert resolve_model(str(TINY_MODEL_DIR)) == TINY_MODEL_DIR
    mirror = tmp_path / "models"
    (mirror / "Qwen").mkdir(parents=True)
    os.symlink(TINY_MODEL_DIR, mirror / "Qwen" / "Qwen3-1.7B-Base")
    monkeypatch.setenv(MODELS_DIR_ENV, str(mirror))
    assert resolve_model("Qwen/Qwen3-1.7B-Base", "main") == TINY_MODEL_DIR


def test_unavailable_model_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    with pytest.raises(ModelNotAvailable, match=MODELS_DIR_ENV) as err:
        resolve_model("Qwen/Qwen3-1.7B-Base", "main")
    assert "hf download Qwen/Qwen3-1.7B-Base" in str(err.value)
    with pytest.raises(ModelNotAvailable, match="does not exist"):
        resolve_model(str(tmp_path / "no" / "such" / "dir"))


def test_env_of_unavailable_model_fails_at_construction(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    with pytest.raises(ModelNotAvailable):
        gym.make(gym_id("gsm8k/Qwen3-1.7B-Base"))
