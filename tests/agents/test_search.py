"""The search baseline: successive halving with warm starts, in a real episode and step by step."""

from __future__ import annotations

import gymnasium as gym
import pytest

import ptb_env  # noqa: F401 - registers the envs
from ptb_agents import Arm, SearchAgent, SearchArgs, run_episode


def _obs(output: str = "", seconds_left: float = 600.0) -> dict:
    """An observation as the env shapes it (only the fields the agent reads)."""
    return {"output": output, "error": "", "budget": {"seconds_left": seconds_left}}


def _job(job_id: int, state: str) -> dict:
    code = 0 if state == "exited" else None
    return {"id": job_id, "state": state, "exit_code": code, "log": "", "seconds": 1.0, "command": "train"}


def _drive(agent: SearchAgent, dev: dict[str, list[float]], seconds_left: float = 600.0) -> list[dict]:
    """Answer the agent's calls as the tools would (structured results in ``info["result"]``, the
    text opaque): jobs end at once, ``dev`` scores per model in order."""
    agent.reset(_obs(seconds_left=seconds_left), {"task": "tiny-arith"}, seed=3)
    calls, obs, result = [], _obs(seconds_left=seconds_left), {}
    for _ in range(100):
        action = agent.act(obs, {"result": result})
        calls.append(action)
        tool, args = action["tool"], action["args"]
        result = {"tool": tool, "ok": True}
        obs = _obs(f"<{tool} text>")
        if tool == "submit":
            return calls
        if tool == "train":
            result["job"] = _job(len(calls), "running")
        elif tool == "wait":
            result["jobs"] = [_job(args["job_id"], "exited")]
        elif tool == "evaluate":
            score = dev[args["model"]].pop(0)
            result.update(model=args["model"], score=score, n=100, seconds=1.0, best=score)
        elif tool == "job_logs":  # the summary a training job's log ends with: 5 steps/s
            obs = _obs('{\n  "steps": 100,\n  "examples": 3200,\n  "train_seconds": 20.0\n}')
            result["job"] = _job(args["job_id"], "exited")
    raise AssertionError(f"no submit after 100 calls: {calls}")


def test_halving_keeps_the_best_arm_and_continues_its_checkpoint():
    agent = SearchAgent(SearchArgs(arms=(Arm(1e-3), Arm(2e-3), Arm(4e-3), Arm(8e-3)), eta=2))
    dev = {"runs/arm0": [0.35, 0.3], "runs/arm1": [0.4, 0.45], "runs/arm2": [0.3], "runs/arm3": [0.2],
           "final_model": [0.6]}  # fmt: skip
    calls = _drive(agent, dev)
    trains = [c["args"] for c in calls if c["tool"] == "train"]
    # round 0: four arms from the base; round 1: arms 1 and 0 continue their own checkpoints
    assert [(t["out"], t["init"]) for t in trains[:4]] == [(f"runs/arm{i}", "base_model") for i in range(4)]
    assert [(t["out"], t["init"]) for t in trains[4:6]] == [
        ("runs/arm1", "runs/arm1"),
        ("runs/arm0", "runs/arm0"),
    ]
    # final: the best of round 1 (arm1, 0.45 > 0.3) trains on into final_model, then submit
    assert (trains[6]["init"], trains[6]["out"]) == ("runs/arm1", "final_model")
    assert trains[6]["learning_rate"] == 2e-3 and len(trains) == 7
    assert calls[0]["tool"] == "bash" and "generate tiny-arith" in calls[0]["args"]["command"]
    assert [t["seed"] for t in trains] == [3000] * 4 + [3001] * 2 + [3002]
    assert calls[-1] == {"tool": "submit", "args": {}}
    assert not any(c["tool"] == "bash" and "cp -r" in c["args"]["command"] for c in calls)
    # the final job gets more time than any round-0 slice
    assert trains[6]["max_seconds"] > max(t["max_seconds"] for t in trains[:4])
    # steps fit each slice: the planned 2.5 steps/s first, then the 5 steps/s the jobs measured
    assert trains[0]["max_steps"] == int(2.5 * trains[0]["max_seconds"])
    assert all(t["max_steps"] == int(5 * t["max_seconds"]) for t in trains[1:])


def test_a_final_run_that_regresses_falls_back_to_the_earlier_checkpoint():
    agent = SearchAgent(SearchArgs(arms=(Arm(2e-3), Arm(4e-3)), eta=2))
    calls = _drive(agent, {"runs/arm0": [0.2], "runs/arm1": [0.5], "final_model": [0.1]})
    assert calls[-2]["args"]["command"] == "rm -rf final_model && cp -r runs/arm1 final_model"
    assert agent.history[-1] == {"fallback": "runs/arm1", "dev": 0.5}


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="arm"):
        SearchArgs(arms=())
    with pytest.raises(ValueError, match="eta"):
        SearchArgs(eta=1)


@pytest.mark.slow
@pytest.mark.full_test_split
def test_search_episode_trains_compares_and_submits(tmp_path):
    """A real episode: two arms, one round, the winner continues; graded.

    Jobs are capped at 20 steps, so a busy machine makes the episode slower, not different; 4,000
    examples, not the agent's 40,000: each job tokenizes its whole file first (8 s of 25 s).
    """
    env = gym.make("PostTrain-v0", workspace_root=tmp_path, time_limit_s=1200, keep_workspace=True)
    args = SearchArgs(
        arms=(Arm(2e-3), Arm(4e-3)), eta=2, dev_limit=20, max_steps_per_job=20, max_examples=4000
    )
    agent = SearchAgent(args)
    try:
        r = run_episode(env, agent, seed=0)
        ws = env.unwrapped.workspace.root
    finally:
        env.close()
    assert r.status == "ok" and r.terminated, r.reason
    assert r.reward > 0, r  # 40 steps of the winner already lift tiny-arith
    rounds = [h for h in agent.history if "round" in h]
    assert [h["round"] for h in rounds] == [0, 0, 1] and all(h["dev"] is not None for h in rounds), (
        agent.history
    )
    assert (ws / "runs" / "arm0" / "model.safetensors").is_file() and (
        ws / "final_model" / "config.json"
    ).is_file()
