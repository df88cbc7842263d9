"""The build script, run for a few steps: reproducible, and its output loads offline."""

import json

import pytest

from ptb_env.tiny.build import BuildConfig, build


@pytest.mark.slow
def test_few_step_build_is_reproducible_and_loads(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = dict(steps=3, batch_size=4, seq_len=64)
    a = build(BuildConfig(out_dir=tmp_path / "a", **cfg))
    build(BuildConfig(out_dir=tmp_path / "b", **cfg))
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys()
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (
        tmp_path / "b" / "tokenizer.json"
    ).read_bytes()
    assert json.loads((tmp_path / "a" / "build_info.json").read_text())["parameters"] == a["parameters"]

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "a", use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(tmp_path / "a")
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert tok.chat_template
    assert not list((tmp_path / "a").glob("*.bin"))
