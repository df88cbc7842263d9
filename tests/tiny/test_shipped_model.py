"""The shipped tiny base model: HF files present, small, loadable offline, Qwen3-style."""

import json
from dataclasses import asdict

import pytest

from ptb_env.tasks.tiny import TINY_MODELS
from ptb_env.tiny.build import PRESETS, BuildConfig

FILES = (
    "config.json",
    "model.safetensors",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


@pytest.mark.parametrize("model", sorted(TINY_MODELS))
def test_shipped_files_and_size(model):
    path = TINY_MODELS[model]
    for name in (*FILES, "build_info.json"):
        assert (path / name).is_file(), name
    total = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    assert total <= 20 * 2**20
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"]
    assert "auto_map" not in config
    built = json.loads((path / "build_info.json").read_text())["config"]
    defaults = asdict(BuildConfig())  # fields added since a model was built have their default
    for key, value in asdict(PRESETS[model]).items():  # the shipped files are the preset's
        assert key == "out_dir" or built.get(key, defaults[key]) == value, key


def test_loads_offline(tiny_model):
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    model, tok = tiny_model
    n = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= n <= 5_000_000


def test_tokenizer_splits_digits_and_has_qwen_specials(tiny_model):
    _, tok = tiny_model
    assert tok.tokenize("12345") == ["1", "2", "3", "4", "5"]
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.decode(tok.encode("Zoë ✓ 🙂", add_special_tokens=False)) == "Zoë ✓ 🙂"
