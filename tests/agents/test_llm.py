"""The llm agent against a scripted chat server (real HTTP, real openai client, real episodes).

The server is a test double (``openai_double.py``): the model is scripted, the
protocol, the client and the env are real.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_agents.base import run_episode
from ptb_agents.llm import ENSURE_CHECKPOINT, LLMAgent, LLMArgs, LLMError, render_observation


def _load_double():
    path = Path(__file__).with_name("openai_double.py")
    spec = importlib.util.spec_from_file_location("openai_double", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_double", module)
    spec.loader.exec_module(module)
    return sys.modules["openai_double"]


double = _load_double()
ChatServer, Fail, DROP, MODEL = double.ChatServer, double.Fail, double.DROP, double.MODEL
call, text, tool_call, tool_calls = double.call, double.text, double.tool_call, double.tool_calls


@pytest.fixture
def env(tmp_path):
    env = gym.make("PostTrain-v0", workspace_root=tmp_path, time_limit_s=60, max_steps=20)
    yield env
    env.close()


def agent_for(server, **kw) -> LLMAgent:
    kw.setdefault("backoff_s", 0.01)
    return LLMAgent(LLMArgs(base_url=server.base_url, **kw))


def env_info(env) -> dict:
    """The reset info's agent-facing part, without starting an episode."""
    return {"task_card": env.unwrapped.task_card, "tool_schemas": env.unwrapped.tool_schemas}


def fake_obs(output: str = "ok", error: str = "") -> dict:
    budget = {
        k: np.array(v) for k, v in (("seconds_left", 50.0), ("steps_left", 9.0), ("dev_evals_left", 3.0))
    }
    return {"output": output, "workspace": "files: data/", "budget": budget, "error": error,
            "best_dev_score": np.array(np.nan), "last_dev_score": np.array(np.nan)}  # fmt: skip


def assert_protocol(messages: list[dict]) -> None:
    """Each assistant tool call is answered, right after it, by a tool message with its id."""
    assert messages[0]["role"] == "system" and messages[1]["role"] == "user"
    i = 0
    while i < len(messages):
        m = messages[i]
        if m["role"] == "assistant" and m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            answers = [x["tool_call_id"] for x in messages[i + 1 : i + 1 + len(ids)]]
            assert answers == ids, (ids, answers)
            i += len(ids)
        else:
            assert m["role"] != "tool", f"tool message {i} answers no call"
        i += 1


# -- a real episode ---------------------------------------------------------------------
def test_episode_runs_the_model_tool_calls_and_answers_each_by_id(env, monkeypatch):
    monkeypatch.delenv("PTB_LLM_MODEL", raising=False)
    script = [
        call("bash", {"command": "cp -rL base_model/. final_model/ && echo copied"}, "c-bash"),
        call("evaluate", {"limit": 5}, "c-eval"),
        call("submit", {}, "c-submit"),
    ]
    with ChatServer(script) as server:
        agent = agent_for(server)
        r = run_episode(env, agent, seed=0)
    assert r.terminated and r.status == "ok" and r.steps == 3
    assert r.reward == 0.0  # the base model, unchanged
    assert len(server.requests) == 3
    card, schemas = env.unwrapped.task_card, env.unwrapped.tool_schemas
    for req in server.requests:
        assert req["model"] == MODEL  # the only model /v1/models lists
        assert req["tools"] == schemas and req["tool_choice"] == "auto"
        assert req["messages"][0] == {"role": "system", "content": card}
        assert_protocol(req["messages"])
    second, third = server.requests[1]["messages"], server.requests[2]["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "c-bash"
    assert "copied" in second[-1]["content"] and "tool calls" in second[-1]["content"]
    assert third[-1]["tool_call_id"] == "c-eval" and "dev score: best" in third[-1]["content"]
    assert agent.stats.requests == 3 and agent.stats.tool_calls == 3
    assert agent.stats.prompt_tokens == 33 and agent.stats.completion_tokens == 21


def test_several_tool_calls_in_one_reply_run_one_per_step(env):
    script = [
        tool_calls(
            tool_call("bash", {"command": "echo first"}, "a"),
            tool_call("bash", {"command": "echo second"}, "b"),
        ),
        call("submit"),
    ]
    with ChatServer(script) as server:
        r = run_episode(env, agent_for(server, model="m"), seed=0)
    assert r.terminated and r.steps == 3
    assert len(server.requests) == 2  # the queued call needed no request
    msgs = server.requests[1]["messages"]
    assert_protocol(msgs)
    assert [m.get("tool_call_id") for m in msgs[-2:]] == ["a", "b"]
    assert "first" in msgs[-2]["content"] and "second" in msgs[-1]["content"]


def test_missing_or_repeated_call_ids_get_unique_ones(env):
    calls = [tool_call("bash", {"command": f"echo {i}"}, cid) for i, cid in enumerate(["same", "same", ""])]
    with ChatServer([tool_calls(*calls), call("submit")]) as server:
        run_episode(env, agent_for(server), seed=0)
    msgs = server.requests[1]["messages"]
    assert [c["id"] for c in msgs[-4]["tool_calls"]] == ["same", "call_ptb2", "call_ptb3"]
    assert_protocol(msgs)


def test_a_reply_without_a_tool_call_becomes_a_nudge(env):
    script = [text("Let me think about the task first."), call("submit")]
    with ChatServer(script) as server:
        agent = agent_for(server)
        r = run_episode(env, agent, seed=0)
    assert r.steps == 1 and agent.stats.nudges == 1
    msgs = server.requests[1]["messages"]
    assert msgs[-2] == {"role": "assistant", "content": "Let me think about the task first."}
    assert msgs[-1]["role"] == "user" and "bash" in msgs[-1]["content"] and "submit" in msgs[-1]["content"]


def test_broken_arguments_and_unknown_tools_are_answered_with_the_error_without_a_step(env):
    script = [
        call("bash", '{"command": "ls"', "broken"),  # JSON cut short
        call("bash", '["ls"]', "listy"),  # JSON, not an object
        call("bsh", {"command": "ls"}, "typo"),
        call("submit"),
    ]
    with ChatServer(script) as server:
        agent = agent_for(server, max_nudges=3)
        r = run_episode(env, agent, seed=0)
    assert r.steps == 1 and agent.stats.nudges == 3 and agent.stats.tool_calls == 1
    reqs = [req["messages"] for req in server.requests]
    for msgs in reqs:
        assert_protocol(msgs)
    assert reqs[1][-2]["tool_calls"][0]["function"]["arguments"] == "{}"  # history stays parseable
    assert reqs[1][-1]["tool_call_id"] == "broken" and "not a JSON object" in reqs[1][-1]["content"]
    assert reqs[2][-1]["tool_call_id"] == "listy" and "not a JSON object" in reqs[2][-1]["content"]
    assert reqs[3][-1]["tool_call_id"] == "typo" and "unknown tool 'bsh'" in reqs[3][-1]["content"]


def test_wrong_argument_types_reach_the_env_which_reports_them(env):
    with ChatServer([call("wait", {"seconds": "ten"}, "w"), call("submit")]) as server:
        run_episode(env, agent_for(server), seed=0)
    answer = server.requests[1]["messages"][-1]
    assert answer["tool_call_id"] == "w" and answer["content"].startswith("ERROR: ")


def test_a_model_that_never_calls_a_tool_falls_back_then_gives_up_like_noop(env):
    with ChatServer([text("gibberish")] * 4) as server:
        agent = agent_for(server, max_nudges=1, max_failed_steps=2)
        actions: list = []
        r = run_episode(env, agent, seed=0, on_step=lambda i, a, o, info: actions.append(a))
    assert actions == [
        {"tool": "job_status", "args": {}},
        {"tool": "bash", "args": {"command": ENSURE_CHECKPOINT}},
        {"tool": "submit", "args": {}},
    ]
    assert r.terminated and r.status == "ok" and r.reward == 0.0
    s = agent.stats
    assert (s.requests, s.nudges, s.fallbacks, s.gave_up) == (4, 2, 2, True)
    note = server.requests[2]["messages"][-1]
    assert note["role"] == "user" and "job_status" in note["content"] and "was run instead" in note["content"]
    assert_protocol(server.requests[-1]["messages"])


# -- context budget -----------------------------------------------------------------------
def test_trimming_keeps_every_request_under_the_budget(env):
    card_and_tools = len(json.dumps(env.unwrapped.tool_schemas)) + len(env.unwrapped.task_card) + 100
    budget = card_and_tools + 9000
    big = "python3 -c \"print('x' * 2500)\""
    script = [call("bash", {"command": big}) for _ in range(8)] + [call("submit")]
    with ChatServer(script) as server:
        agent = agent_for(server, context_chars=budget, keep_recent=3, show_workspace=False)
        r = run_episode(env, agent, seed=0)
    assert r.terminated and r.steps == 9
    for req in server.requests:
        sent = len(json.dumps(req["messages"], ensure_ascii=False)) + len(
            json.dumps(req["tools"], ensure_ascii=False)
        )
        assert sent <= budget
        assert req["messages"][0]["content"] == env.unwrapped.task_card
        assert_protocol(req["messages"])
    last = server.requests[-1]["messages"]
    assert "x" * 2500 in last[-1]["content"]  # the newest output is whole
    assert any(re.fullmatch(r"\[trimmed \d+ chars\]", str(m.get("content"))) for m in last)
    assert agent.stats.trimmed_messages >= 5 and agent.stats.max_request_chars <= budget


def test_oldest_turns_are_dropped_when_markers_are_not_enough(env):
    with ChatServer([call("bash", {"command": "echo " + "y" * 400}) for _ in range(30)]) as server:
        budget = len(json.dumps(env.unwrapped.tool_schemas)) + len(env.unwrapped.task_card) + 4000
        agent = agent_for(server, context_chars=budget, keep_recent=2)
        agent.reset(fake_obs(), env_info(env), seed=0)
        for i in range(30):
            agent.act(fake_obs(f"out {i} " + "z" * 300))
    assert agent.stats.dropped_messages > 0
    for req in server.requests:
        msgs = req["messages"]
        assert (
            len(json.dumps(msgs, ensure_ascii=False)) + len(json.dumps(req["tools"], ensure_ascii=False))
            <= budget
        )
        assert_protocol(msgs)
    assert "earlier messages dropped" in server.requests[-1]["messages"][1]["content"]
    assert "out 29" in server.requests[-1]["messages"][-1]["content"]


def test_a_budget_smaller_than_the_task_card_is_a_clear_error(env):
    with ChatServer() as server, pytest.raises(ValueError, match="raise LLMArgs.context_tokens"):
        agent_for(server, context_tokens=500).reset(fake_obs(), env_info(env), seed=0)


# -- HTTP errors ----------------------------------------------------------------------------
def test_transient_errors_are_retried_with_growing_waits(env):
    script = [Fail(500), Fail(429, retry_after=0), DROP, call("submit")]
    with ChatServer(script) as server:
        agent = agent_for(server, backoff_s=0.05)
        agent.reset(fake_obs(), env_info(env), seed=0)
        assert agent.act(fake_obs()) == {"tool": "submit", "args": {}}
    assert len(server.requests) == 4 and agent.stats.retries == 3 and agent.stats.requests == 1
    gaps = np.diff(server.times)
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2, gaps  # 0.05 s, doubling
    assert [e["error"] for e in agent.stats.events if e["event"] == "retry"] == [
        "HTTP 500", "HTTP 429", "APIConnectionError",
    ]  # fmt: skip


def test_a_request_that_times_out_is_retried(env):
    def slow(_body):
        time.sleep(1.5)
        return call("submit")

    with ChatServer([slow, call("submit")]) as server:
        agent = agent_for(server, request_timeout_s=0.3)
        agent.reset(fake_obs(), env_info(env), seed=0)
        assert agent.act(fake_obs())["tool"] == "submit"
    assert agent.stats.retries == 1 and agent.stats.events[0]["error"] == "APITimeoutError"


def test_retries_run_out_with_a_clear_error(env):
    with ChatServer([Fail(503)] * 5) as server:
        agent = agent_for(server, max_tries=3)
        agent.reset(fake_obs(), env_info(env), seed=0)
        with pytest.raises(LLMError, match=r"failed 3 times in a row \(last: HTTP 503: injected failure\)"):
            agent.act(fake_obs())
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
         "--enable-auto-tool-choice --tool-call-parser hermes"),
        (400, "This model's maximum context length is 1024 tokens.", "lower LLMArgs.context_tokens"),
        (401, "Incorrect API key provided", "OPENAI_API_KEY"),
        (404, "The model `gpt-5` does not exist", "Check the model name"),
    ],
)  # fmt: skip
def test_client_errors_are_not_retried_and_name_the_fix(env, status, message, hint):
    with ChatServer([Fail(status, message)]) as server:
        agent = agent_for(server)
        agent.reset(fake_obs(), env_info(env), seed=0)
        with pytest.raises(LLMError, match=re.escape(hint)) as err:
            agent.act(fake_obs())
    assert len(server.requests) == 1 and agent.stats.retries == 0
    assert message in str(err.value)


def test_on_error_give_up_submits_and_keeps_the_error(env):
    with ChatServer([Fail(401, "bad key")]) as server:
        agent = agent_for(server, on_error="give_up")
        r = run_episode(env, agent, seed=0)
    assert r.terminated and r.status == "ok" and r.reward == 0.0 and r.steps == 2
    assert agent.stats.gave_up and "(HTTP 401): bad key" in agent.stats.last_error


# -- settings -------------------------------------------------------------------------------
def test_settings_default_to_the_environment_variables(env, monkeypatch):
    with ChatServer([call("submit")]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("PTB_LLM_MODEL", "from-env")
        agent = LLMAgent(LLMArgs(temperature=0.5, max_tokens=77))
        agent.reset(fake_obs(), env_info(env), seed=0)
        agent.act(fake_obs())
    req = server.requests[0]
    assert (req["model"], req["temperature"], req["max_tokens"]) == ("from-env", 0.5, 77)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_tries >= 1"):
        LLMAgent(LLMArgs(base_url="http://127.0.0.1:9/v1", max_tries=0))


def test_observation_text_shows_error_output_budget_and_scores():
    obs = fake_obs("hello", error="bad call")
    obs["best_dev_score"] = np.array(0.25)
    shown = render_observation(obs)
    assert shown.startswith("ERROR: bad call\nhello\n[budget left: 50 s, 9 tool calls, 3 dev evaluations")
    assert "dev score: best 0.250" in shown and "[workspace]\nfiles: data/" in shown
