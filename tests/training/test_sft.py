import json

import pytest

from ptb_env.benchmarks.generate import write_train_data
from ptb_env.errors import PtbEnvError
from ptb_env.paths import TINY_MODEL_DIR
from ptb_env.training.sft import SFTConfig, load_examples, tokenize_example, train_sft


def test_loss_covers_the_reply_only(tiny_model, tmp_path):
    _, tok = tiny_model
    write_train_data("tiny-arith", 1, 0, tmp_path / "d.jsonl")
    msgs = load_examples(tmp_path / "d.jsonl")[0]
    row = tokenize_example(tok, msgs, 512)
    learned = [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
    assert tok.decode(learned) == msgs[-1]["content"] + "<|im_end|>"
    assert len(row["input_ids"]) == len(row["labels"])


@pytest.mark.parametrize(
    "line",
    [
        '{"messages": []}',
        "not json",
        '{"messages": [{"role": "user", "content": "q"}]}',
        '{"text": "x"}',
        '{"messages": [{"role": "assistant", "content": 3}]}',
    ],
)
def test_malformed_data_is_a_clear_error(tmp_path, line):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(PtbEnvError, match=r"bad.jsonl:1: expected"):
        load_examples(path)


@pytest.mark.slow
def test_sft_writes_a_loadable_checkpoint_reproducibly(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    write_train_data("tiny-tools", 64, 0, tmp_path / "d.jsonl")
    cfg = SFTConfig(max_steps=3, batch_size=8)
    metrics = train_sft(TINY_MODEL_DIR, tmp_path / "d.jsonl", tmp_path / "a", cfg, progress=False)
    train_sft(TINY_MODEL_DIR, tmp_path / "d.jsonl", tmp_path / "b", cfg, progress=False)
    assert metrics["steps"] == 3
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)
    base = load_file(TINY_MODEL_DIR / "model.safetensors")
    assert any(not (wa[k] == base[k]).all() for k in wa)  # it did train
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "a", use_safetensors=True) is not None
    assert json.loads((tmp_path / "a" / "config.json").read_text())["architectures"] == ["Qwen3ForCausalLM"]


def test_batched_tokenization_gives_the_ids_of_one_at_a_time(tiny_model, tmp_path):
    """Jobs tokenize their file in batches; the rows must be those of the one-example path."""
    from ptb_env.training.sft import tokenize_examples

    _, tok = tiny_model
    write_train_data("tiny-arith", 50, 0, tmp_path / "d.jsonl")
    u, a = ("user", "assistant")
    examples = load_examples(tmp_path / "d.jsonl") + [
        [{"role": a, "content": "a lone reply"}],
        [{"role": "system", "content": "brief"}, {"role": u, "content": "2+2"}, {"role": a, "content": "4"}],
        [{"role": u, "content": "q"}, {"role": a, "content": "a"}, {"role": u, "content": "again"},
         {"role": a, "content": "b " * 300}],
    ]  # fmt: skip

    def one(m, n):
        text = tok.apply_chat_template(m[:-1], add_generation_prompt=True, tokenize=False) if m[:-1] else ""
        prompt = tok(text, add_special_tokens=False)
        reply = tok(m[-1]["content"] + tok.eos_token, add_special_tokens=False)
        ids, labels = (
            prompt["input_ids"] + reply["input_ids"],
            [-100] * len(prompt["input_ids"]) + reply["input_ids"],
        )
        return {"input_ids": ids[:n], "labels": labels[:n]}

    for n in (512, 40):
        assert tokenize_examples(tok, examples, n, chunk=7) == [one(m, n) for m in examples]
