"""The lineage check: genuine fine-tunes of the tiny base pass, substituted or altered models fail."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from ptb_env.errors import GraderError
from ptb_env.integrity.lineage import LineageConfig, check_lineage
from ptb_env.paths import TINY_MODEL_DIR

BASE = TINY_MODEL_DIR


def _load_profile():
    """The case builders of ``lineage_profile.py`` (a script, not an importable module)."""
    spec = importlib.util.spec_from_file_location(
        "lineage_profile", Path(__file__).with_name("lineage_profile.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


profile = _load_profile()


def copy_base(dst: Path) -> Path:
    shutil.copytree(BASE, dst)
    return dst


def summary(v):
    return v.evidence["summary"]


@pytest.fixture(scope="session")
def fine_tune(tmp_path_factory):
    out = tmp_path_factory.mktemp("lineage") / "sft"
    profile.sft(BASE, out, "tiny-arith", steps=10, lr=5e-3, batch_size=8)
    return out


@pytest.fixture(scope="session")
def other_seed_build(tmp_path_factory):
    """Another tiny model: its own tokenizer and weights from seed 1, a few steps of pre-training."""
    out = tmp_path_factory.mktemp("lineage") / "seed1"
    profile.tiny_build(out, seed=1, steps=3, batch_size=4, seq_len=64)
    return out


@pytest.fixture(scope="session")
def random_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("lineage") / "random"
    profile.random_init(BASE, out, seed=1)
    return out


def test_base_itself_passes():
    v = check_lineage(BASE, BASE)
    assert v.passed, v.reason
    assert v.check == "lineage"
    assert summary(v)["weighted_distance"] == 0.0 and summary(v)["weighted_cosine"] == 1.0


def test_bfloat16_copy_of_base_passes(tmp_path):
    profile.to_dtype(BASE, tmp_path / "bf16", "bfloat16")
    assert check_lineage(tmp_path / "bf16", BASE).passed


@pytest.mark.slow
def test_short_fine_tune_passes(fine_tune):
    v = check_lineage(fine_tune, BASE)
    assert v.passed, v.reason
    assert 0 < summary(v)["weighted_distance"] < LineageConfig().max_weighted_distance


@pytest.mark.slow
def test_lora_merged_fine_tune_passes(tmp_path):
    pytest.importorskip("peft", reason='LoRA needs peft: pip install "ptb-env[lora]"')
    profile.lora(BASE, tmp_path / "lora", "tiny-arith", steps=6, lr=5e-3, rank=8, batch_size=8)
    v = check_lineage(tmp_path / "lora", BASE)
    assert v.passed, v.reason
    assert summary(v)["weighted_distance"] > 0


@pytest.mark.slow
def test_different_seed_build_fails(other_seed_build):
    v = check_lineage(other_seed_build, BASE)
    assert not v.passed
    assert "tokenizer" in v.evidence or "shapes" in v.evidence, v.reason


@pytest.mark.slow
def test_different_seed_weights_behind_the_base_tokenizer_fail(other_seed_build, tmp_path):
    ckpt = shutil.copytree(other_seed_build, tmp_path / "ckpt")
    profile.copy_tokenizer(BASE, ckpt)
    v = check_lineage(ckpt, BASE)
    assert not v.passed
    if "summary" in v.evidence:  # same vocabulary size: the weights give it away
        assert summary(v)["substituted_share"] > 0.9


def test_random_init_fails(random_model):
    v = check_lineage(random_model, BASE)
    assert not v.passed
    assert summary(v)["weighted_cosine"] < 0.1 and summary(v)["substituted_share"] > 0.9


def test_one_swapped_tensor_fails(random_model, tmp_path):
    profile.splice(BASE, random_model, tmp_path / "ckpt", ["model.layers.1.self_attn.o_proj."])
    v = check_lineage(tmp_path / "ckpt", BASE)
    assert not v.passed
    assert summary(v)["substituted_tensors"] == 1
    assert v.evidence["most_changed"][0]["tensor"] == "model.layers.1.self_attn.o_proj.weight"


def test_mismatched_shape_fails(tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = copy_base(tmp_path / "ckpt")
    w = load_file(ckpt / "model.safetensors")
    w["model.embed_tokens.weight"] = w["model.embed_tokens.weight"][:-1]
    save_file(w, ckpt / "model.safetensors")
    v = check_lineage(ckpt, BASE)
    assert not v.passed
    assert v.evidence["shapes"][0]["tensor"] == "model.embed_tokens.weight"


def test_missing_and_extra_tensors_fail(tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = copy_base(tmp_path / "ckpt")
    w = load_file(ckpt / "model.safetensors")
    w["lm_head.weight"] = w.pop("model.norm.weight").repeat(2)
    save_file(w, ckpt / "model.safetensors")
    v = check_lineage(ckpt, BASE)
    assert not v.passed
    assert v.evidence["missing"] == ["model.norm.weight"] and v.evidence["extra"] == ["lm_head.weight"]


def test_different_vocabulary_fails(tmp_path):
    ckpt = copy_base(tmp_path / "ckpt")
    tok = json.loads((ckpt / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = sorted(vocab)[100:102]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (ckpt / "tokenizer.json").write_text(json.dumps(tok))
    v = check_lineage(ckpt, BASE)
    assert not v.passed
    assert sorted(v.evidence["tokenizer"]["renumbered"]) == sorted([a, b])


def test_checkpoint_without_tokenizer_is_checked_on_weights_only(tmp_path):
    ckpt = copy_base(tmp_path / "ckpt")
    (ckpt / "tokenizer.json").unlink()
    assert check_lineage(ckpt, BASE).passed


def test_non_finite_weights_fail(tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = copy_base(tmp_path / "ckpt")
    w = load_file(ckpt / "model.safetensors")
    w["model.layers.0.mlp.up_proj.weight"][0, 0] = float("nan")
    save_file(w, ckpt / "model.safetensors")
    v = check_lineage(ckpt, BASE)
    assert not v.passed and summary(v)["non_finite"] == 1
    json.dumps(v.to_info(), allow_nan=False)


def test_pickle_only_checkpoint_fails_without_loading(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "pytorch_model.bin").write_bytes(b"not a pickle that anyone should load")
    v = check_lineage(ckpt, BASE)
    assert not v.passed and "safetensors" in v.reason


def test_sharded_checkpoint_passes(tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    w = load_file(BASE / "model.safetensors")
    names = sorted(w)
    shards = {"model-00001-of-00002.safetensors": names[:20], "model-00002-of-00002.safetensors": names[20:]}
    for shard, keys in shards.items():
        save_file({k: w[k] for k in keys}, ckpt / shard)
    index = {"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    v = check_lineage(ckpt, BASE)
    assert v.passed, v.reason
    assert v.evidence["weight_files"] == sorted(shards)


def test_unreadable_base_is_a_grader_error(tmp_path):
    with pytest.raises(GraderError):
        check_lineage(BASE, tmp_path)


def test_evidence_is_json_serialisable(random_model):
    for v in (check_lineage(BASE, BASE), check_lineage(random_model, BASE)):
        info = json.loads(json.dumps(v.to_info(), allow_nan=False))
        assert info["evidence"]["summary"]["tensors"] == 46
        assert len(info["evidence"]["most_changed"]) == LineageConfig().top_k


def test_malformed_safetensors_fails(tmp_path):
    ckpt = copy_base(tmp_path / "ckpt")
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    v = check_lineage(ckpt, BASE)
    assert not v.passed and "cannot be read" in v.reason
