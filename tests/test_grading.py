"""Grading: valid checkpoints earn score - base, invalid ones grade as the base, failures raise.

Every test grades on ``tiny-facts`` (its whole hidden test split scores in seconds
on a CPU). The base score and the fine-tuned checkpoint are computed once per module.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ptb_env.benchmarks.facts import TinyFacts
from ptb_env.errors import GraderError, UnsandboxedWarning
from ptb_env.grading import Grader
from ptb_env.paths import PRIVATE_DIR, PUBLIC_DATA_DIR, TINY_MODEL_DIR
from ptb_env.score_cache import ScoreCache, checkpoint_fingerprint
from ptb_env.tasks import get_task
from ptb_env.workspace import Workspace

TASK = dataclasses.replace(get_task("tiny-facts"), test_limit=None)  # every item, whatever the suite grades


# -- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def cache_env(tmp_path_factory, seed_score_cache) -> Iterator[Path]:
    """``PTB_ENV_CACHE_DIR`` in a temporary directory: no score lands in ~/.cache.

    Its score cache starts with the session's base scores (``tests/conftest.py``).
    """
    root = tmp_path_factory.mktemp("ptb-cache")
    seed_score_cache(root / "scores", TASK.id)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTB_ENV_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def cache_root(cache_env: Path) -> Path:
    return cache_env / "scores"


@pytest.fixture(scope="module")
def grader(cache_root: Path) -> Grader:
    return Grader(TASK, ScoreCache(cache_root))


@pytest.fixture(scope="module")
def base(grader: Grader) -> float:
    """The base model's test score (evaluated once, then cached)."""
    return grader.base_score("test")


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    """The base model after 40 SFT steps on generated tiny-facts data (it scores above the base)."""
    from ptb_env.benchmarks.generate import write_train_data
    from ptb_env.training.sft import SFTConfig, train_sft

    d = tmp_path_factory.mktemp("sft")
    write_train_data("tiny-facts", 640, 0, d / "train.jsonl")
    train_sft(TINY_MODEL_DIR, d / "train.jsonl", d / "out", SFTConfig(max_steps=40, batch_size=16), False)
    return d / "out"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = Workspace.create(tmp_path / "workspaces", TINY_MODEL_DIR, task_card="# t\n")
    yield w
    w.remove()


def put(src: Path, dest: Path) -> Path:
    """Copy a model directory's files into ``dest`` (e.g. ``final_model/``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file():
            shutil.copyfile(p, dest / p.name)
    return dest


def edit_tensors(model_dir: Path, edit: Callable[[dict], None]) -> None:
    """Rewrite ``model.safetensors`` after ``edit`` changed the dict of tensors in place."""
    from safetensors.torch import load_file, save_file

    path = model_dir / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def perturb(model_dir: Path, eps: float = 1e-3) -> None:
    """Change one weight slightly: a checkpoint no cache has seen."""

    def edit(t: dict) -> None:
        t["model.norm.weight"][0] += eps

    edit_tensors(model_dir, edit)


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def grade(grader: Grader, ws: Workspace):
    return grader.grade(ws, kill=lambda: None)


# -- valid checkpoints ------------------------------------------------------------------------------
@pytest.mark.slow
def test_copy_of_the_base_model_grades_ok_with_zero_uplift(grader, base, ws):
    put(TINY_MODEL_DIR, ws.final_model)
    g = grade(grader, ws)
    assert (g.status, g.reason) == ("ok", "")
    assert g.base_score == base and g.score == base and g.reward == 0.0
    assert g.n == 500


@pytest.mark.slow
def test_finetuned_checkpoint_earns_score_minus_base(grader, base, finetuned, ws):
    put(finetuned, ws.final_model)
    g = grade(grader, ws)
    assert (g.status, g.reason) == ("ok", "")
    assert g.n == 500
    assert g.score > base  # 40 SFT steps teach the answer format: a real, non-zero uplift
    assert g.reward == pytest.approx(g.score - base, abs=1e-12)


# -- invalid checkpoints ----------------------------------------------------------------------------
def _base(fm: Path) -> None:
    put(TINY_MODEL_DIR, fm)


def _no_config(fm: Path) -> None:
    _base(fm)
    (fm / "config.json").unlink()


def _config_not_json(fm: Path) -> None:
    _base(fm)
    (fm / "config.json").write_text('{"model_type": "qwen3",')


def _hidden_size(fm: Path) -> None:
    _base(fm)
    edit_json(fm / "config.json", hidden_size=256)


def _model_type(fm: Path) -> None:
    _base(fm)
    edit_json(fm / "config.json", model_type="llama", architectures=["LlamaForCausalLM"])


def _missing_tensor(fm: Path) -> None:
    _base(fm)
    edit_tensors(fm, lambda t: t.pop("model.norm.weight"))


def _extra_tensor(fm: Path) -> None:
    import torch

    _base(fm)
    edit_tensors(fm, lambda t: t.update({"model.backdoor.weight": torch.zeros(3)}))


def _reshaped_tensor(fm: Path) -> None:
    _base(fm)
    edit_tensors(fm, lambda t: t.update({"model.norm.weight": t["model.norm.weight"][:-1].clone()}))


def _pickle_only(fm: Path) -> None:
    import torch
    from safetensors.torch import load_file

    _base(fm)
    torch.save(load_file(fm / "model.safetensors"), fm / "pytorch_model.bin")
    (fm / "model.safetensors").unlink()


def _truncated_weights(fm: Path) -> None:
    _base(fm)
    data = (fm / "model.safetensors").read_bytes()
    (fm / "model.safetensors").write_bytes(data[: len(data) // 2])


def _corrupt_header(fm: Path) -> None:
    _base(fm)
    with (fm / "model.safetensors").open("r+b") as f:
        f.write(b"\xff" * 16)


def _other_vocabulary(fm: Path) -> None:
    _base(fm)
    tok = json.loads((fm / "tokenizer.json").read_text())
    extra = {**tok["added_tokens"][-1], "id": 2048, "content": "<|answer_is|>"}
    tok["added_tokens"].append(extra)  # one token more than the base model's vocabulary
    (fm / "tokenizer.json").write_text(json.dumps(tok))


def _index_points_outside(fm: Path) -> None:
    """Weights validated from a shard in the checkpoint, loaded (through the index) from elsewhere."""
    from safetensors import safe_open

    _base(fm)
    (fm / "model.safetensors").rename(fm / "model-00001-of-00001.safetensors")
    with safe_open(str(fm / "model-00001-of-00001.safetensors"), "pt") as f:
        names = list(f.keys())
    outside = str(TINY_MODEL_DIR / "model.safetensors")  # any host file the agent can name
    index = {"metadata": {}, "weight_map": {k: outside for k in names}}
    (fm / "model.safetensors.index.json").write_text(json.dumps(index))


def _final_model_links_to_etc(fm: Path) -> None:
    fm.rmdir()
    fm.symlink_to("/etc", target_is_directory=True)


def _final_model_links_to_private(fm: Path) -> None:
    fm.rmdir()
    fm.symlink_to(PRIVATE_DIR, target_is_directory=True)


def _file_links_to_private(fm: Path) -> None:
    _base(fm)
    (fm / "heldout.json").symlink_to(PRIVATE_DIR / "heldout.json")


def _self_loop(fm: Path) -> None:
    _base(fm)
    (fm / "loop").symlink_to(".", target_is_directory=True)


def _two_link_loop(fm: Path) -> None:
    _base(fm)
    (fm / "a").symlink_to("b")
    (fm / "b").symlink_to("a")


def _fifo(fm: Path) -> None:
    _base(fm)
    os.mkfifo(fm / "notes")


INVALID = {
    "empty": (lambda fm: None, r"final_model/ is empty"),
    "missing-config": (_no_config, r"config\.json is missing"),
    "config-not-json": (_config_not_json, r"config\.json is not valid JSON"),
    "other-hidden-size": (_hidden_size, r"'hidden_size' is 256 \(the base model's: 192\)"),
    "other-model-type": (_model_type, r"'model_type' is 'llama' \(the base model's: 'qwen3'\)"),
    "missing-tensor": (_missing_tensor, r"missing \['model\.norm\.weight'\]"),
    "extra-tensor": (_extra_tensor, r"unexpected \['model\.backdoor\.weight'\]"),
    "reshaped-tensor": (_reshaped_tensor, r"other shapes \['model\.norm\.weight'\]"),
    "truncated-safetensors": (_truncated_weights, r"model\.safetensors is not a readable safetensors"),
    "corrupt-safetensors": (_corrupt_header, r"model\.safetensors is not a readable safetensors"),
    "other-vocabulary": (_other_vocabulary, r"tokenizer\.json has another vocabulary"),
    "index-names-files-outside": (
        _index_points_outside,
        r"index\.json names files that are not .*/model\.safetensors'\]",
    ),
    "final-model-links-to-etc": (_final_model_links_to_etc, r"leaves the workspace"),
    "final-model-links-to-private": (_final_model_links_to_private, r"leaves the workspace"),
    "file-links-to-private": (_file_links_to_private, r"heldout\.json' leaves the workspace"),
    "symlink-loop-self": (_self_loop, r"symlink loop"),
    "symlink-loop-two-links": (_two_link_loop, r"symlink loop"),
    "fifo": (_fifo, r"notes' is not a regular file"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_checkpoint_grades_as_base_with_the_reason(grader, base, ws, case):
    make, reason = INVALID[case]
    make(ws.final_model)
    g = grade(grader, ws)
    assert g.status == "invalid_checkpoint"
    assert g.reward == 0.0 and g.score == g.base_score == base
    assert re.search(reason, g.reason), g.reason


def test_pickle_weights_disqualify_and_are_never_loaded(grader, base, ws):
    _pickle_only(ws.final_model)
    g = grade(grader, ws)
    assert (g.status, g.reward, g.score) == ("disqualified", 0.0, base)
    assert "pickle or code files ['pytorch_model.bin']" in g.reason
    assert g.integrity["checkpoint"]["passed"] is False


def test_checkpoint_over_the_copy_limit_is_invalid(grader, base, ws, monkeypatch):
    put(TINY_MODEL_DIR, ws.final_model)
    monkeypatch.setattr(Grader, "max_checkpoint_bytes", lambda self: 1 << 20)  # 1 MiB < 7.9 MB weights
    g = grade(grader, ws)
    assert (g.status, g.reward, g.score) == ("invalid_checkpoint", 0.0, base)
    assert "larger than the copy limit" in g.reason


@pytest.mark.slow
def test_checkpoint_that_crashes_evaluation_is_invalid_not_infra(grader, base, ws):
    put(TINY_MODEL_DIR, ws.final_model)  # passes the config allow-list, but fails to load in the jail
    edit_json(ws.final_model / "config.json", pad_token_id=10**6)  # the embedding has 2048 rows
    g = grade(grader, ws)
    assert (g.status, g.reward, g.score) == ("invalid_checkpoint", 0.0, base)
    assert "fails during evaluation" in g.reason


# -- the task's files, never the agent's --------------------------------------------------------------
@pytest.mark.slow
def test_agent_template_tokenizer_and_generation_files_are_not_used(grader, finetuned, tmp_path):
    """Each file below would break or change every prompt if grading used it."""
    boom = "{{ raise_exception('the agent chat template was used') }}"
    ws = Workspace.create(tmp_path / "workspaces", TINY_MODEL_DIR, task_card="t")
    fm = put(finetuned, ws.final_model)
    (fm / "chat_template.jinja").write_text(boom)
    (fm / "chat_template.json").write_text(json.dumps({"chat_template": boom}))
    (fm / "additional_chat_templates").mkdir()
    (fm / "additional_chat_templates" / "default.jinja").write_text(boom)
    edit_json(fm / "tokenizer_config.json", chat_template=boom, eos_token="A")
    (fm / "special_tokens_map.json").write_text(json.dumps({"eos_token": "A"}))
    (fm / "added_tokens.json").write_text(json.dumps({"Which": 2048, "ANSWER": 2049}))
    edit_json(fm / "generation_config.json", eos_token_id=list(range(2048)))  # stop at once
    clean, _ = grader.score_checkpoint(put(finetuned, tmp_path / "clean"), "test")
    # a fresh cache (same weights and config, same key): the evil checkpoint is really evaluated
    evil, cached = Grader(TASK, ScoreCache(tmp_path / "fresh")).score_workspace(ws, "final_model", "test")
    assert not cached
    assert clean["score"] > 0 and evil["score"] == clean["score"]
    ws.remove()


# -- grader failures are infrastructure errors ------------------------------------------------------------
def test_jail_limits_too_tight_for_any_model_are_a_grader_error_not_a_zero(tmp_path):
    """The base model runs in the same jail: a limit it cannot meet is the machinery's fault."""
    from ptb_env.inference.jail import JailConfig

    grader = Grader(TASK, ScoreCache(tmp_path / "scores"), jail=JailConfig(timeout_s=0.01))
    ckpt = put(TINY_MODEL_DIR, tmp_path / "ckpt")
    perturb(ckpt)
    with pytest.raises(GraderError, match=r"JailError: exceeded the time limit of 0\.01 s"):
        grader.score_checkpoint(ckpt, "dev", limit=2)


def _evaluate_crashes(env, monkeypatch) -> None:
    import ptb_env.inference

    def crash(*args, **kwargs):
        raise RuntimeError("CUDA error: device lost")

    monkeypatch.setattr(ptb_env.inference, "evaluate", crash)


def _grader_crashes(env, monkeypatch) -> None:
    def crash(self, *args, **kwargs):
        raise RuntimeError("grader bug")

    monkeypatch.setattr(Grader, "_evaluate", crash)


def _test_split_missing(env, monkeypatch) -> None:
    empty = Path(env.workspace.root).parent / "no-private"  # a private dir without test.jsonl
    monkeypatch.setattr(env.grader, "benchmark", TinyFacts(PUBLIC_DATA_DIR, empty))


FAILURES = {
    "evaluation-crashes": (_evaluate_crashes, r"Evaluation of test failed: RuntimeError: CUDA error"),
    "grader-crashes": (_grader_crashes, r"RuntimeError.*grader bug"),
    "test-split-missing": (_test_split_missing, r"Split 'test' of 'tiny-facts' is missing"),
}


def _submit_after(failure: str, mode: str, tmp_path: Path, cache_root: Path, monkeypatch):
    """Reset (base score cached), break the grader, leave a never-scored checkpoint, submit."""
    from ptb_env.env import PostTrainEnv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsandboxedWarning)
        env = PostTrainEnv(
            TASK, sandbox="none", workspace_root=tmp_path / "ws", score_cache_dir=cache_root,
            on_grader_error=mode,
        )  # fmt: skip
        env.reset(seed=0)
    perturb(put(TINY_MODEL_DIR, env.workspace.final_model), eps=1e-2)  # failures cache nothing
    FAILURES[failure][0](env, monkeypatch)
    return env


@pytest.mark.parametrize("failure", list(FAILURES))
def test_grader_failure_raises_grader_error(failure, tmp_path, cache_root, base, monkeypatch):
    env = _submit_after(failure, "raise", tmp_path, cache_root, monkeypatch)
    with pytest.raises(GraderError, match=FAILURES[failure][1]):
        env.step({"tool": "submit", "args": {}})
    env.close()


@pytest.mark.parametrize("failure", list(FAILURES))
def test_grader_failure_is_reported_as_infra_error(failure, tmp_path, cache_root, base, monkeypatch):
    env = _submit_after(failure, "report", tmp_path, cache_root, monkeypatch)
    _, reward, terminated, _, info = env.step({"tool": "submit", "args": {}})
    assert terminated and reward == 0.0
    assert info["status"] == "infra_error"
    assert re.search(FAILURES[failure][1], info["reason"]), info["reason"]
    env.close()


# -- the score cache ------------------------------------------------------------------------------------
_WORKER = """
import json, os, sys, time
from pathlib import Path
from ptb_env.score_cache import ScoreCache

root, counter, go = map(Path, sys.argv[1:4])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)

def compute():
    with counter.open("a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)
    return {"score": 0.25, "by": os.getpid()}

value, hit = ScoreCache(root).get_or_compute("same-key", compute)
print(json.dumps(value), hit, flush=True)
"""


@pytest.mark.slow
def test_score_is_computed_once_across_concurrent_processes(tmp_path):
    root, counter, go = tmp_path / "scores", tmp_path / "computed", tmp_path / "go"
    args = [sys.executable, "-c", _WORKER, str(root), str(counter), str(go)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 4  # all imported, all waiting
    go.touch()
    outs = [p.communicate(timeout=60)[0].strip().rsplit(" ", 1) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    computed = counter.read_text().split()
    assert len(computed) == 1  # exactly one compute
    assert {value for value, _ in outs} == {json.dumps({"score": 0.25, "by": int(computed[0])})}
    assert sorted(hit for _, hit in outs) == ["False", "True", "True", "True"]


def test_corrupt_cache_file_is_recomputed(tmp_path):
    cache = ScoreCache(tmp_path)
    (tmp_path / "k.json").write_text('{"score": 0.9')  # torn write
    value, hit = cache.get_or_compute("k", lambda: {"score": 0.5})
    assert (value, hit) == ({"score": 0.5}, False)
    assert json.loads((tmp_path / "k.json").read_text()) == {"score": 0.5}


def test_cache_key_changes_with_split_file_limit_batch_size_and_weights(grader, tmp_path):
    weights = checkpoint_fingerprint(TINY_MODEL_DIR)
    other = put(TINY_MODEL_DIR, tmp_path / "other")
    perturb(other)
    other_weights = checkpoint_fingerprint(other)
    private = tmp_path / "private"
    test = private / "benchmarks" / "tiny-facts" / "test.jsonl"
    test.parent.mkdir(parents=True)
    rows = (PRIVATE_DIR / "benchmarks" / "tiny-facts" / "test.jsonl").read_text().splitlines(True)
    test.write_text("".join(rows[:-1]))  # one item fewer
    edited = Grader(TASK, grader.cache)
    edited.benchmark = TinyFacts(PUBLIC_DATA_DIR, private)
    batch = Grader(dataclasses.replace(TASK, eval_batch_size=TASK.eval_batch_size // 2), grader.cache)
    key = grader._key(weights, "test", None)
    assert key == Grader(TASK, grader.cache)._key(weights, "test", None)  # deterministic
    variants = {
        "split file": edited._key(weights, "test", None),
        "limit": grader._key(weights, "test", 100),
        "batch size": batch._key(weights, "test", None),
        "weights": grader._key(other_weights, "test", None),
    }
    assert all(v != key for v in variants.values())
    assert len(set(variants.values())) == len(variants)


def test_warm_base_score_is_a_lookup(grader, base, monkeypatch):
    def no_evaluation(self, *args, **kwargs):
        raise AssertionError("the base model was evaluated again")

    monkeypatch.setattr(Grader, "_evaluate", no_evaluation)
    t0 = time.perf_counter()
    assert Grader(TASK, ScoreCache(grader.cache.root)).base_score("test") == base
    assert time.perf_counter() - t0 < 1.0
