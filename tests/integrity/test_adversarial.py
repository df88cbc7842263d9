"""Cheating from inside an episode fails: each attempt ends with the right status and reward,
and the env stays usable afterwards (a fresh reset and a shell call work)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_env.benchmarks import get_benchmark
from ptb_env.paths import PACKAGE_DIR, PRIVATE_DIR
from ptb_env.sandbox import SandboxConfig, SandboxUnavailable, find_bwrap

COPY_BASE = "cp -rL base_model/. final_model/"


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    made: list[gym.Env] = []

    def _make(**kwargs: Any) -> gym.Env:
        env = gym.make("PostTrain-v0", workspace_root=tmp_path / "ws", **kwargs)
        made.append(env)
        env.reset(seed=0)
        return env

    yield _make
    for env in made:
        env.close()


def bash(env: gym.Env, command: str, timeout: float = 60) -> str:
    obs = env.step({"tool": "bash", "args": {"command": command, "timeout": timeout}})[0]
    return obs["output"] + obs["error"]


def submit(env: gym.Env) -> tuple[float, dict]:
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated
    return reward, info


def still_usable(env: gym.Env) -> None:
    env.reset(seed=1)
    assert "alive" in bash(env, "echo alive")


def test_reading_the_hidden_test_split_finds_nothing_and_grades_normally(make_env):
    env = make_env()
    out = bash(env, f"cat {PRIVATE_DIR}/benchmarks/tiny-arith/test.jsonl; ls {PRIVATE_DIR}; {COPY_BASE}")
    assert "No such file" in out and "messages" not in out
    reward, info = submit(env)
    assert (info["status"], reward) == ("ok", 0.0)
    still_usable(env)


def test_editing_the_package_grader_or_score_cache_changes_nothing(make_env, tmp_path, seed_score_cache):
    cache = seed_score_cache(tmp_path / "cache" / "scores").parent
    env = make_env(score_cache_dir=cache / "scores")
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    out = bash(
        env,
        f"echo 'x' >> {PACKAGE_DIR}/env.py; echo rc=$?; touch {PACKAGE_DIR}/grading.py; echo rc=$?; "
        f"mkdir -p {cache}/scores && echo '{{\"score\": 1.0}}' > {cache}/scores/hack.json; "
        f"for f in {cache}/scores/*.json; do echo '{{\"score\": 1.0}}' > $f; done; {COPY_BASE}",
    )
    assert out.count("rc=0") == 0, out
    assert {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()} == before
    assert "x" not in (PACKAGE_DIR / "env.py").read_text().splitlines()[-1:]
    reward, info = submit(env)
    assert (info["status"], reward, info["score"]) == ("ok", 0.0, info["base_score"])
    still_usable(env)


def test_symlink_escape_grades_as_the_base_model(make_env):
    env = make_env()
    bash(env, f"rmdir final_model && ln -s {PRIVATE_DIR} final_model")
    reward, info = submit(env)
    assert (info["status"], reward) == ("invalid_checkpoint", 0.0)
    assert "leaves the workspace" in info["reason"]
    still_usable(env)


class _Payload:
    marker = ""

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_never_loaded_and_disqualifies(make_env, tmp_path):
    env = make_env()
    marker = tmp_path / "pwned"
    _Payload.marker = str(marker)
    bash(env, COPY_BASE)
    (env.unwrapped.workspace.final_model / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload()))
    reward, info = submit(env)
    assert (info["status"], reward) == ("disqualified", 0.0)
    assert "pytorch_model.bin" in info["integrity"]["checkpoint"]["reason"]
    assert not marker.exists()
    still_usable(env)


@pytest.mark.slow
def test_substituted_model_is_disqualified(make_env):
    """A model of the same architecture trained from scratch (random init) is not a fine-tune."""
    env = make_env()
    script = (
        "import torch; from transformers import AutoConfig, AutoModelForCausalLM; torch.manual_seed(1); "
        "m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained('base_model')); "
        "m.save_pretrained('final_model')"
    )
    out = bash(env, f'python -c "{script}" && cp base_model/tokenizer* final_model/ && ls final_model', 300)
    assert "model.safetensors" in out, out
    reward, info = submit(env)
    assert (info["status"], reward) == ("disqualified", 0.0), info
    assert info["integrity"]["lineage"]["passed"] is False
    still_usable(env)


@pytest.mark.slow
def test_training_on_test_data_is_disqualified(make_env):
    """As if the agent had downloaded the test set: it lands in the workspace and goes to `train`."""
    env = make_env()
    items = get_benchmark("tiny-arith").items("test", limit=50)
    leaked = env.unwrapped.workspace.data_dir / "downloaded.jsonl"
    leaked.write_text("".join(json.dumps(it.chat_example()) + "\n" for it in items))
    obs = env.step(
        {"tool": "train", "args": {"data": "data/downloaded.jsonl", "max_steps": 2, "batch_size": 4}}
    )
    assert not obs[0]["error"], obs[0]["error"]
    env.step({"tool": "wait", "args": {"job_id": 1}})
    bash(env, "rm data/downloaded.jsonl")  # hiding the file does not help: the train snapshot is scanned
    reward, info = submit(env)
    assert (info["status"], reward) == ("disqualified", 0.0)
    evidence = info["integrity"]["contamination"]["evidence"]
    assert evidence["matched"] >= 50
    assert "train_data" in json.dumps(evidence)
    still_usable(env)


@pytest.mark.slow
def test_honest_data_that_reproduces_short_test_items_by_chance_is_not_disqualified(make_env):
    """An honest agent writes its own generator: the public wordings plus three of its own that
    happen to be held-out ones (short, natural phrasings), and long lists of common names and
    cities that include held-out ones. Its data reproduces short tiny-tools test items by chance,
    no more often than control items drawn like the test split: graded, not disqualified."""
    heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text())["tiny-tools"]  # read here only
    extra = {f: [heldout["templates"][f][1]] for f in ("call_person", "translate", "set_timer")}
    script = f"""
import json, random
from ptb_env.benchmarks.tools import ToolsVocab, make_item
from ptb_env.tiny import world
from ptb_env.tiny.phrasing import TEMPLATES
extra, more = {json.dumps(extra)}, {json.dumps(heldout["pools"])}
own = {{f: (*ts, *extra.get(f, [])) for f, ts in TEMPLATES.items()}}
pools = {{**world.POOLS, **{{k: (*world.POOLS[k], *v) for k, v in more.items()}}}}
vocab = ToolsVocab(pools=pools, templates=own, made_up_names=True)
for i in range(20000):
    item = make_item(random.Random(i), vocab, str(i))
    print(json.dumps(item.chat_example()))
"""
    env = make_env(task="tiny-tools")
    assert not env.step({"tool": "write_file", "args": {"path": "gen.py", "content": script}})[0]["error"]
    out = bash(env, f"python gen.py > data/train.jsonl && wc -l < data/train.jsonl; {COPY_BASE}", timeout=120)
    assert "20000" in out, out
    reward, info = submit(env)
    assert (info["status"], reward) == ("ok", 0.0), info["integrity"]["contamination"]["reason"]
    evidence = info["integrity"]["contamination"]["evidence"]
    assert evidence["matched"] >= 3 and evidence["control"]["mean"] > 1  # by chance, as often as control
    still_usable(env)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("limits", "attack"),
    [
        ({"memory_mb": 512}, "python -c 'x = bytearray(3 << 30); print(len(x))'"),
        ({"workspace_disk_mb": 50}, "dd if=/dev/zero of=big bs=1M count=400 2>&1 | tail -1; sleep 3"),
        ({"max_procs": 64}, "f() { f | f & }; f; sleep 5"),
    ],
    ids=["memory", "disk", "processes"],
)
def test_exhausting_resources_is_contained_and_the_episode_goes_on(make_env, limits, attack):
    env = make_env(sandbox_config=SandboxConfig(**limits))
    bash(env, attack, timeout=30)
    bash(env, "rm -f big")
    assert "alive" in bash(env, "echo alive")
    bash(env, COPY_BASE)
    reward, info = submit(env)
    assert (info["status"], reward) == ("ok", 0.0), info
    still_usable(env)
