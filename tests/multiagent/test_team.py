"""PostTrainTeam: PettingZoo conformance, rounds (order, sharing, ending) and a scripted team episode.

Real sandboxes and the real grader; the scripted episode trains the tiny model for two steps.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import api_test, parallel_api_test  # noqa: E402

from ptb_agents.team import TeamArgs, run_parallel, scripted_team  # noqa: E402
from ptb_env.errors import EpisodeNotRunning  # noqa: E402
from ptb_env.multiagent import team  # noqa: E402

AGENTS = ["curator_0", "trainer_1", "evaluator_2"]
PASS = {"tool": "pass"}


def bash(command: str) -> dict[str, Any]:
    return {"tool": "bash", "args": {"command": command}}


def round_of(env: Any, **calls: dict[str, Any]) -> tuple:
    """One round: the given calls, every other live agent passes."""
    return env.step({a: calls.get(a, PASS) for a in env.agents})


@pytest.fixture
def env(make) -> Any:
    e = make(team.parallel_env, max_steps=20)
    e.reset(seed=0)
    return e


# -- PettingZoo conformance ---------------------------------------------------------------


def test_metadata_and_constructors_follow_pettingzoo():
    assert team.parallel_env is team.PostTrainTeam
    meta = team.PostTrainTeam.metadata
    assert meta["name"] == "post_train_team_v0" and meta["is_parallelizable"] is True
    assert meta["render_modes"] == ["ansi"]


@pytest.mark.slow
def test_parallel_api_test_passes(make):
    env = make(team.parallel_env, max_steps=8)
    for agent in env.possible_agents:
        env.action_space(agent).seed(0)
    parallel_api_test(env, num_cycles=10)


@pytest.mark.slow
def test_api_test_passes_on_the_aec_view(make):
    env = make(team.env, max_steps=6)
    for agent in env.possible_agents:
        env.action_space(agent).seed(0)
    api_test(env, num_cycles=5)


@pytest.mark.slow
def test_seed_tests_pass_with_unlimited_clock_and_timing_free_tools(
    make, seed_tests, restrict_to_timing_free
):
    # See docs/multiagent.md: why the clock is unlimited, the tools restricted and NaN == NaN.
    def maker(factory):
        def make_env():
            env = make(factory, max_steps=8, time_limit_s=math.inf)
            raw = env.unwrapped
            for agent in raw.possible_agents:
                raw.action_spaces[agent] = restrict_to_timing_free(raw.action_spaces[agent], raw.env.tools)
            return env

        return make_env

    seed_tests.parallel_seed_test(maker(team.parallel_env), num_cycles=10)
    seed_tests.seed_test(maker(team.env), num_cycles=10)


def test_agents_are_named_by_role_and_index(make):
    env = make(team.parallel_env, roles=("curator", "trainer", "trainer"))
    assert env.possible_agents == ["curator_0", "trainer_1", "trainer_2"]


@pytest.mark.parametrize("roles", [(), ("Curator",), ("data curator",), (3,)])
def test_roles_must_be_lowercase_words(ws_root, roles):
    with pytest.raises(ValueError, match="lowercase words"):
        team.PostTrainTeam(roles=roles, workspace_root=ws_root)


def test_reset_infos_give_each_agent_its_role_card_and_the_pass_tool(make):
    _, infos = make(team.parallel_env).reset(seed=0)
    info = infos["trainer_1"]
    assert info["role"] == "trainer" and "You are `trainer_1` (role: trainer)" in info["task_card"]
    assert [s["function"]["name"] for s in info["tool_schemas"]][-1] == "pass"


# -- rounds ----------------------------------------------------------------------------


def test_calls_of_a_round_run_one_after_another_in_turn_order(env):
    calls = {a: bash(f"echo {a} >> log.txt") for a in AGENTS}
    round_of(env, **calls)
    round_of(env, **calls)
    log = (env.workspace.root / "log.txt").read_text().split()
    assert log == AGENTS + AGENTS[1:] + AGENTS[:1]


def test_infos_give_each_agent_its_turn(env):
    round_of(env)
    _, _, _, _, infos = round_of(env)
    assert {a: i["turn"] for a, i in infos.items()} == {"trainer_1": 1, "evaluator_2": 2, "curator_0": 3}


def test_teammates_shows_what_the_others_did_last_round(env):
    obs, *_ = round_of(env, curator_0=bash("echo from-the-curator"), evaluator_2=bash("exit 3"))
    seen = obs["trainer_1"]["teammates"]
    assert "curator_0 (turn 1/3): bash" in seen and "from-the-curator" in seen
    assert "evaluator_2 (turn 3/3): bash" in seen and "[exit code: 3]" in seen
    assert "trainer_1" not in seen


def test_each_agent_gets_its_own_output(env):
    obs, *_ = round_of(env, curator_0=bash("echo mine"), trainer_1=bash("echo yours"))
    assert "mine" in obs["curator_0"]["output"] and "yours" in obs["trainer_1"]["output"]
    assert obs["evaluator_2"]["output"] == ""


def test_the_shell_and_budget_are_shared(env):
    obs, *_ = round_of(env, curator_0=bash("cd data; export X=1"), trainer_1=bash("pwd; echo X=$X"))
    assert "/workspace/data\nX=1" in obs["trainer_1"]["output"]
    assert all(float(o["budget"]["steps_left"]) == 18 for o in obs.values())


def test_pass_uses_no_budget(env):
    obs, *_ = round_of(env)
    assert float(obs["curator_0"]["budget"]["steps_left"]) == 20


def test_a_malformed_pass_is_an_error_that_uses_no_budget(env):
    obs, *_ = round_of(env, curator_0={"tool": "pass", "args": {"rounds": 2}})
    assert obs["curator_0"]["error"].startswith("Tool 'pass' has no argument 'rounds'")
    assert float(obs["curator_0"]["budget"]["steps_left"]) == 20


def test_a_missing_action_is_a_pass(env):
    _, _, _, _, infos = env.step({"curator_0": bash("true")})
    assert (infos["trainer_1"]["tool"], infos["evaluator_2"]["tool"]) == ("pass", "pass")


def test_every_observation_is_in_its_space(env):
    obs, *_ = round_of(env, curator_0=bash("echo λ 中 🙂"), trainer_1={"tool": "nope"})
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())


# -- the end --------------------------------------------------------------------------------


def test_a_submit_ends_the_episode_and_later_calls_do_not_run(env):
    obs, rewards, terminations, truncations, infos = round_of(
        env, curator_0={"tool": "submit"}, trainer_1=bash("touch late")
    )
    assert not (env.workspace.root / "late").exists()
    assert obs["trainer_1"]["error"] == "not run: a teammate submitted earlier this round"
    assert all(terminations.values()) and not any(truncations.values()) and env.agents == []
    assert {i["status"] for i in infos.values()} == {"invalid_checkpoint"}


def test_the_shared_step_budget_ends_the_episode_mid_round(make):
    env = make(team.parallel_env, max_steps=2)
    env.reset(seed=0)
    obs, _, terminations, truncations, infos = round_of(env, **{a: bash("true") for a in AGENTS})
    assert all(truncations.values()) and not any(terminations.values())
    assert obs["evaluator_2"]["error"] == "not run: the budget ran out earlier this round"
    assert infos["curator_0"]["truncated_by"] == ["steps"]


def test_max_rounds_submits_for_the_team(make):
    env = make(team.parallel_env, max_rounds=2)
    env.reset(seed=0)
    round_of(env)
    _, _, terminations, truncations, infos = round_of(env)
    assert all(truncations.values()) and not any(terminations.values())
    assert infos["evaluator_2"]["truncated_by"] == ["rounds"]


def test_stepping_after_the_end_raises(env):
    round_of(env, curator_0={"tool": "submit"})
    with pytest.raises(EpisodeNotRunning):
        env.step({})


@pytest.mark.slow
def test_scripted_team_shares_the_uplift(make):
    env = make(team.parallel_env, max_steps=20)
    args = TeamArgs(examples=64, train_steps=2, batch_size=4, dev_limit=5)
    result = run_parallel(env, scripted_team(args), seed=0)
    info = result.infos["evaluator_2"]
    assert info["status"] == "ok" and info["tool"] == "submit"
    assert result.rewards == dict.fromkeys(AGENTS, info["uplift"])
    assert result.actions == {"curator_0": 1, "trainer_1": 2, "evaluator_2": 2}
