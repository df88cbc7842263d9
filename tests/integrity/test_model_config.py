"""The config.json allow-list: only keys that do not change the computation may differ (fail closed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ptb_env.errors import CheckpointError, CheckpointViolation
from ptb_env.integrity.checkpoint import check_config, read_config
from ptb_env.integrity.model_config import MAX_DEPTH, compare_configs
from ptb_env.paths import TINY_MODEL_DIR

BASE = json.loads((TINY_MODEL_DIR / "config.json").read_text())
F6_ROPE = {"rope_type": "linear", "factor": 1, "partial_rotary_factor": 2**21}
"""The F6 memory bomb: a RoPE table 2**21 times too wide (23 GB in the env process before the fix)."""

QWEN3_1_7B_BASE_4_51 = {  # Qwen/Qwen3-1.7B-Base's config.json, as transformers 4.51 wrote it
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151643, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144,
    "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen3",
    "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936,
}  # fmt: skip


def refused(config: dict[str, Any], base: dict[str, Any] = BASE) -> str:
    with pytest.raises(CheckpointError) as info:
        check_config(config, base)
    return str(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"dtype": "bfloat16"},
        {"dtype": "float16", "use_cache": True},
        {"transformers_version": "5.99.0", "_name_or_path": "/workspace/runs/a"},
        {"eos_token_id": [0, 3], "pad_token_id": 1, "bos_token_id": 2},
        {"rope_parameters": {"rope_type": "default", "rope_theta": 10000}},  # int vs float: same base
    ],
    ids=["dtype", "dtype-and-cache", "metadata", "token-ids", "same-rope-other-spelling"],
)
def test_keys_that_do_not_change_the_computation_may_differ(changes):
    check_config({**BASE, **changes}, BASE)


def test_a_checkpoint_saved_by_this_transformers_passes(tmp_path: Path):
    """What SFT writes: the base config through from_pretrained / save_pretrained, in bfloat16."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(TINY_MODEL_DIR, dtype=torch.bfloat16)
    model.config.use_cache = True
    model.save_pretrained(tmp_path)
    check_config(read_config(tmp_path), BASE)


def test_a_base_model_saved_by_transformers_4_against_its_transformers_5_save(tmp_path: Path):
    """Hub base models (``rope_theta``, ``torch_dtype``) against a v5 save (``rope_parameters``)."""
    from transformers import AutoConfig

    (tmp_path / "config.json").write_text(json.dumps(QWEN3_1_7B_BASE_4_51))
    AutoConfig.from_pretrained(tmp_path).save_pretrained(tmp_path / "saved")
    saved = read_config(tmp_path / "saved")
    assert "rope_parameters" in saved and "rope_theta" not in saved  # another spelling ...
    check_config(saved, QWEN3_1_7B_BASE_4_51)  # ... of the same computation
    assert "rope_parameters" in refused({**saved, "rope_parameters": F6_ROPE}, QWEN3_1_7B_BASE_4_51)


def test_the_f6_rope_bomb_is_refused_and_named():
    msg = refused({**BASE, "rope_parameters": F6_ROPE})
    assert "'rope_parameters.partial_rotary_factor' is 2097152" in msg, msg


def test_a_nested_change_is_named_by_its_path():
    msg = refused({**BASE, "rope_parameters": {**BASE["rope_parameters"], "rope_theta": 1e9}})
    assert "'rope_parameters.rope_theta'" in msg and "1000000000.0" in msg


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"max_position_embeddings": 1 << 20}, "max_position_embeddings"),  # was allowed up to 2**20
        ({"sliding_window": 0, "use_sliding_window": True}, "sliding_window"),
        ({"layer_types": ["sliding_attention"] * 4}, "layer_types[0]"),
        ({"attn_implementation": "eager"}, "attn_implementation"),  # consumed, never in to_dict
        ({"quantization_config": {"quant_method": "bitsandbytes"}}, "quantization_config"),
        ({"brand_new_key": 1}, "brand_new_key"),
        ({"rms_norm_eps": 1e-5}, "rms_norm_eps"),
        ({"use_cache": 1}, "use_cache"),  # an allowed key, but not a bool
        ({"dtype": "float8_e4m3fn"}, "dtype"),
        ({"eos_token_id": -1}, "eos_token_id"),
    ],
)
def test_any_other_difference_is_refused_with_the_key_named(changes, key):
    msg = refused({**BASE, **changes})
    assert f"'{key}'" in msg, msg


def test_a_dropped_key_is_refused_where_its_default_differs():
    assert "'tie_word_embeddings'" in refused({k: v for k, v in BASE.items() if k != "tie_word_embeddings"})
    check_config({k: v for k, v in BASE.items() if k != "layer_types"}, BASE)  # the default: the same
    config = {k: v for k, v in BASE.items() if k != "rope_parameters"}
    config["rope_scaling"] = {"rope_type": "linear", "factor": 4.0}  # the old spelling of a change
    assert "rope_" in refused(config)


def test_an_allowed_key_may_keep_whatever_value_the_base_model_has():
    odd = {**BASE, "eos_token_id": list(range(300)), "dtype": "float64"}  # past the checks of a change
    check_config(odd, odd)
    assert "'eos_token_id'" in refused({**odd, "eos_token_id": list(range(301))}, odd)


def test_deep_nesting_is_refused_without_recursion():
    deep: Any = 1
    for _ in range(10 * MAX_DEPTH):
        deep = {"a": deep}
    assert "nests deeper" in refused({**BASE, "rope_parameters": deep})


def test_a_json_nested_past_the_recursion_limit_is_invalid_not_a_crash(tmp_path: Path):
    (tmp_path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_config(tmp_path)


def test_remote_code_still_disqualifies():
    with pytest.raises(CheckpointViolation):
        check_config({**BASE, "auto_map": {"AutoModelForCausalLM": "x.Y"}}, BASE)


def test_model_type_is_compared_first():
    with pytest.raises(CheckpointError, match="'model_type'"):
        compare_configs({**BASE, "model_type": "llama"}, BASE)
