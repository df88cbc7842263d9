"""The cloned tool-calling policy's pieces (``ptb_agents.bc``): its tools, how a recording renders
as the chat of a GRPO rollout, which tokens it learns from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("trl")

from ptb_agents import bc  # noqa: E402
from ptb_env.integrations.trl import INSTRUCTION  # noqa: E402
from ptb_env.paths import TINY_MODEL_DIR  # noqa: E402
from ptb_env.tools import default_tools  # noqa: E402
from ptb_env.wrappers import RecordTrajectory  # noqa: E402

ACTIONS = [
    ("bash", {"command": "echo hello"}),
    ("evaluate", {"limit": 3}),  # no checkpoint yet: an error, rendered too
    ("submit", {}),
]


def test_policy_tools_are_the_envs_with_train_cut_to_three_arguments():
    from transformers.utils import get_json_schema

    tools = bc.policy_tools()
    assert [t.__name__ for t in tools] == sorted(bc.TOOLS)  # TRL's order: inspect.getmembers
    schemas = {t.__name__: get_json_schema(t)["function"] for t in tools}
    for name, schema in schemas.items():
        ref = default_tools()[name]
        assert schema["description"] == ref.description
        props = schema["parameters"]["properties"]
        want = list(bc.TRAIN_ARGS) if name == "train" else list(ref.parameters.get("properties", {}))
        assert list(props) == want, name
        for arg, spec in props.items():
            assert spec["description"] == ref.parameters["properties"][arg]["description"], (name, arg)


def _numbers_out(text: str) -> str:
    """The text with its numbers blanked (budgets and timings differ between two episodes)."""
    return re.sub(r"\d+(\.\d+)?", "N", text)


@pytest.mark.slow
def test_a_recording_renders_as_the_rollout_reads_and_labels_only_the_calls(
    make_env, tmp_path, cache_dir, ws_root
):
    env = RecordTrajectory(
        make_env("PostTrain-tiny-arith-short-v0", budget="compute"),
        tmp_path / "rec",
        output_chars=bc.RECORD_CHARS,
    )
    env.reset(seed=3)
    for tool, args in ACTIONS:
        env.step({"tool": tool, "args": args})
    env.close()
    (path,) = (tmp_path / "rec").glob("*.jsonl")
    messages = bc.render(path)

    # the same calls in the rollout env GRPO runs the policy in
    tool_env = bc.policy_env_class()(
        bc.TASK, task_card=bc.CARD, max_output_chars=bc.MAX_OUTPUT_CHARS, budget="compute",
        workspace_root=ws_root, score_cache_dir=cache_dir / "scores",
    )  # fmt: skip
    try:
        card = tool_env.reset(seed=3)
        seen = [getattr(tool_env, tool)(**args) for tool, args in ACTIONS]
        tool_env.get_reward()
    finally:
        tool_env._close()
    assert messages[0] == {"role": "user", "content": INSTRUCTION + card}
    calls = [m["tool_calls"][0]["function"] for m in messages[1::2]]
    assert calls == [{"name": t, "arguments": a} for t, a in ACTIONS]
    replies = [m["content"] for m in messages[2::2]]
    assert [_numbers_out(r) for r in replies] == [_numbers_out(s) for s in seen]
    assert "[error]" in replies[1] and "episode over: you submitted" in replies[2]

    tokenizer = bc.load_tokenizer(TINY_MODEL_DIR)
    ids, labels = bc.tokenize(tokenizer, messages, bc.policy_tools())
    learned = tokenizer.decode([i for i, y in zip(ids, labels, strict=True) if y != -100])
    assert learned.count("<tool_call>") == len(ACTIONS) and '"name": "bash"' in learned
    assert "[budget]" not in learned and "Post-train" not in learned  # tool replies and prompt: context only
    assert all(y in (-100, i) for i, y in zip(ids, labels, strict=True))

    # one cloning step on it: the prompt runs as a cached prefix, the policy and its tokenizer are saved
    info = bc.train(tmp_path / "rec", tmp_path / "policy", steps=1, batch=1)
    assert info["demos"] == 1 and 0 < info["prefix_tokens"] < len(ids) and info["loss"][0] > 0
    assert (tmp_path / "policy" / "model.safetensors").is_file()
    assert bc.load_tokenizer(tmp_path / "policy").chat_template is not None


@pytest.mark.slow
def test_evaluate_policy_plays_real_episodes_the_way_trl_does(cache_dir, ws_root):
    """The tiny base model as the policy: it makes no tool call, so each rollout is one turn and
    ``get_reward`` submits for it (nothing in final_model/: uplift 0)."""
    result = bc.evaluate_policy(
        TINY_MODEL_DIR, [0], max_new_tokens=8, workspace_root=ws_root, score_cache_dir=cache_dir / "scores"
    )
    (episode,) = result["episodes"]
    assert episode["turns"] == 1 and episode["valid"] == 0 and episode["calls"] == []
    assert episode["status"] == "invalid_checkpoint" and episode["reward"] == 0.0  # no final_model/
    assert episode["tools"] == [] and episode["submitted"] is False
    s = result["summary"]
    assert (s["episodes"], s["valid_call_rate"], s["submit_rate"], s["reward_mean"]) == (1, 0.0, 0.0, 0.0)
    assert list(ws_root.iterdir()) == []  # the episode's workspace is gone


def test_variants_span_the_short_tasks_recipe_levels():
    from ptb_env.tasks.tiny import SHORT_RECIPE_LEVELS

    assert {v.examples for v in bc.VARIANTS} == set(SHORT_RECIPE_LEVELS["data_levels"])
    assert {v.learning_rate for v in bc.VARIANTS} == set(SHORT_RECIPE_LEVELS["lr_levels"])
    assert {v.steps for v in bc.VARIANTS} == set(SHORT_RECIPE_LEVELS["steps_levels"])
    assert {v.check_dev for v in bc.VARIANTS} == {True, False}


def test_missing_recordings_are_a_clear_error(tmp_path: Path):
    with pytest.raises(SystemExit, match="no recordings"):
        bc.train(tmp_path, tmp_path / "policy", steps=1)


def test_perturbed_copies_change_the_tool_messages_numbers_only():
    import random

    chat = [
        {"role": "user", "content": "Budget: 3.6 TFLOP, 50 tool calls"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "wait", "arguments": {}}}]},
        {
            "role": "tool",
            "name": "wait",
            "content": "job 1: exited after 26 s\n[budget] 2.026 TFLOP, 358 s left",
        },
    ]
    copy = bc.perturb_numbers(chat, random.Random(0))
    assert copy[:2] == chat[:2] and chat[2]["content"].startswith("job 1: exited after 26 s")  # no mutation
    text = copy[2]["content"]
    assert text.startswith("job 1: exited after ") and text != chat[2]["content"]
    assert re.sub(r"\d", "N", text) == re.sub(r"\d", "N", chat[2]["content"])  # the same shapes


@pytest.mark.slow
def test_the_shipped_policy_calls_tools_and_trl_parses_them(cache_dir, ws_root):
    """The cloned policy that ships (``ptb_env/tiny/policy``) opens an episode as its
    demonstrations did, with calls ``parse_response`` reads as TRL's trainer does (with the
    prompt as its prefix: without it, the parser of transformers >= 5.13 finds no call)."""
    from ptb_env.paths import TINY_POLICY_DIR

    info = json.loads((TINY_POLICY_DIR / "bc_info.json").read_text())
    assert info["demos"] >= 24 and (TINY_POLICY_DIR / "model.safetensors").stat().st_size < 20 << 20
    result = bc.evaluate_policy(
        TINY_POLICY_DIR, [100], workspace_root=ws_root, score_cache_dir=cache_dir / "scores"
    )
    (episode,) = result["episodes"]
    assert episode["calls"][0]["name"] == "bash", episode
    assert "benchmarks.generate" in episode["calls"][0]["arguments"]["command"]
    assert episode["calls"][1]["name"] == "train", episode
    assert episode["valid"] >= 3 and "train" in episode["tools"]
    assert list(ws_root.iterdir()) == []
