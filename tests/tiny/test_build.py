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


@pytest.mark.slow
def test_the_gemma_style_preset_has_its_own_chat_format_and_multi_digit_numbers(tmp_path):
    from dataclasses import replace

    from transformers import AutoTokenizer

    from ptb_env.tiny.build import PRESETS
    from ptb_env.training.sft import tokenize_example

    build(replace(PRESETS["tiny-2m-gemma"], out_dir=tmp_path, steps=2, batch_size=2, seq_len=32))
    tok = AutoTokenizer.from_pretrained(tmp_path)
    talk = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    prompt = tok.apply_chat_template(talk, add_generation_prompt=True, tokenize=False)
    assert prompt == "<start_of_turn>user\nS\n\nhi<end_of_turn>\n<start_of_turn>model\n"  # no system role
    assert tok.eos_token == "<end_of_turn>" and len(tok.encode("<start_of_turn>")) == 1
    assert "<|im_start|>" not in tok.get_vocab()
    assert any(len(t) > 1 for t in tok.tokenize("there are 12 apples and 100 pens"))  # digits merge
    row = tokenize_example(tok, [*talk, {"role": "assistant", "content": "ok"}], 64)
    reply = [i for i, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    assert tok.decode(reply) == "ok<end_of_turn>"
    generation = json.loads((tmp_path / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<end_of_turn>") in generation["eos_token_id"]


def test_presets_differ_the_way_posttrainbench_models_do():
    from ptb_env.tiny.build import PRESETS

    base, short, gemma = PRESETS["tiny-2m"], PRESETS["tiny-1m-short"], PRESETS["tiny-2m-gemma"]
    assert short.hidden_size < base.hidden_size and short.steps < base.steps  # size, pre-training length
    assert (gemma.chat_format, gemma.digits) != (base.chat_format, base.digits)  # tokenizer, chat format
    assert len({p.out_dir for p in PRESETS.values()}) == 3
