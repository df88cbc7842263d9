"""Observations and ``info`` are valid UTF-8 whatever bytes the agent puts in names and output (F9).

Attacked through ``env.step``: file names, symlink targets and output that are not
UTF-8, from the shell and from a background job; every string the env returns must
encode (``json.dumps(..., ensure_ascii=False).encode("utf-8")``, what an OpenAI or
httpx client does), stay in the observation space, and show the bytes as escapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptb_env.env import PostTrainEnv
from ptb_env.observations import build_observation, valid_text, valid_text_tree
from ptb_env.sandbox import SandboxUnavailable, find_bwrap
from ptb_env.sandbox.output import HeadTail


def _json(value: Any) -> bytes:
    """What a JSON/HTTP client sends (arrays as numbers); raises on a lone surrogate."""
    plain = {k: (v.item() if isinstance(v, np.ndarray) else v) for k, v in value.items()}
    plain = {k: ({b: x.item() for b, x in v.items()} if k == "budget" else v) for k, v in plain.items()}
    return json.dumps(plain, ensure_ascii=False, default=str).encode("utf-8")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[PostTrainEnv]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    e = PostTrainEnv(workspace_root=tmp_path / "ws")
    yield e
    e.close()


def test_names_and_output_that_are_not_utf8_reach_the_agent_as_valid_utf8(env):
    obs, info = env.reset(seed=0)
    _json(obs)
    _json(info)
    touch_bad = "touch $'bad\\xff\\xfe'; ln -s $'/nowhere\\xff' $'link\\xfe'; printf 'out\\xff\\xfe\\n'"
    touch_ckpt = "touch $'final_model/w\\xff.safetensors' $'final_model/\\xc3'; ls; ls final_model"
    job = "printf 'job é \\xff\\xfe\\n'; touch $'job\\xfe'; ln -s $'\\xff' $'.jobs/l\\xff'"
    actions = [
        ("bash", {"command": touch_bad}),
        ("bash", {"command": touch_ckpt}),
        ("job_start", {"command": job}),
        ("wait", {"job_id": 1, "seconds": 10}),
        ("job_logs", {"job_id": 1}),
        ("job_status", {}),
        ("read_file", {"path": "final_model"}),
        ("evaluate", {"model": "final_model", "limit": 1}),
    ]
    seen = ""
    for tool, args in actions:
        obs, _, terminated, truncated, info = env.step({"tool": tool, "args": args})
        assert env.observation_space.contains(obs), obs
        _json(obs)
        _json(info)
        seen += obs["output"] + obs["workspace"] + obs["error"]
        assert not (terminated or truncated), info
    # the bytes are shown, not dropped: the agent can name the file again ($'bad\xff\xfe')
    assert "bad\\xff\\xfe" in seen and "link\\xfe -> /nowhere\\xff" in seen and "w\\xff.safetensors" in seen
    assert "out\\xff\\xfe" in seen and "job é \\xff\\xfe" in seen
    obs, _, terminated, _, info = env.step({"tool": "submit", "args": {}})
    assert terminated and env.observation_space.contains(obs)
    _json(obs)
    _json(info)


def test_every_string_field_is_made_valid_at_the_one_place_observations_are_built():
    bad = "x\udcff\ud800y"
    obs = build_observation(bad, bad, {}, float("nan"), float("nan"), bad)
    assert obs["output"] == obs["workspace"] == obs["error"] == "x\\xff\\ud800y"
    info = valid_text_tree({"reason": bad, "grade": {bad: [bad, (bad, 1.5)]}, "n": 3})
    good = "x\\xff\\ud800y"
    assert info == {"reason": good, "grade": {good: [good, (good, 1.5)]}, "n": 3}
    assert valid_text("plain é") == "plain é"


def test_sandbox_output_decoding_never_yields_surrogates():
    out = HeadTail(keep=8)
    out.feed(b"caf\xc3\xa9 \xff\xfe" + b"z" * 40 + b"\xe2\x82")
    text = out.text(10**6)
    text.encode("utf-8")
    assert text.startswith("café \\xff\\xfe")
