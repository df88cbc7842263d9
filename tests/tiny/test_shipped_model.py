"""The shipped tiny base model: HF files present, small, loadable offline, Qwen3-style."""

import json

from ptb_env.paths import TINY_MODEL_DIR

FILES = (
    "config.json",
    "model.safetensors",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def test_shipped_files_and_size():
    for name in FILES:
        assert (TINY_MODEL_DIR / name).is_file(), name
    total = sum(p.stat().st_size for p in TINY_MODEL_DIR.iterdir() if p.is_file())
    assert total <= 20 * 2**20
    config = json.loads((TINY_MODEL_DIR / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"]
    assert "auto_map" not in config


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
