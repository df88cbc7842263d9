"""RecipeWrapper / PostTrainRecipe-v0: spaces, mask, macro actions, checkers and SB3 PPO.

Every trained episode here uses one recipe (64 examples, 3 steps, fixed data seed, no
continuation), so all of them produce the same weights and the score cache grades them once.
"""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import ptb_env  # noqa: F401 - registers the ids
from ptb_env.errors import EpisodeNotRunning
from ptb_env.wrappers import OBS_NAMES, RecipeConfig, RecipeWrapper

TINY = dict(
    time_limit_s=90,
    max_steps=20,
    data_levels=(64,),
    lr_levels=(2e-3,),
    steps_levels=(3,),
    batch_size=8,
    eval_limit=10,
    reserve_s=5.0,
    data_seed=0,
    continue_training=False,
)
"""One training round: ~8 s on an idle 2-core machine (mostly the job's start-up)."""
NO_TRAIN = {**TINY, "reserve_s": 10_000.0}
"""``train`` is always masked (it would need more time than the budget): cheap episodes."""
TRAIN, EVALUATE, SUBMIT = 0, 1, 2


def make(**overrides) -> gym.Env:
    return gym.make("PostTrainRecipe-v0", **{**TINY, **overrides})


def test_spaces_names_and_mask_at_reset():
    env = gym.make(
        "PostTrainRecipe-v0",
        time_limit_s=60,
        data_levels=(64, 128),
        lr_levels=(1e-3, 2e-3, 4e-3),
        steps_levels=(3, 6),
        eval_limit=7,
    )
    try:
        names = env.get_wrapper_attr("action_names")
        assert env.action_space == gym.spaces.Discrete(2 * 3 * 2 + 2)
        assert names[0] == "train(data=64, lr=0.001, steps=3)"
        assert names[-3] == "train(data=128, lr=0.004, steps=6)"
        assert names[-2:] == ["evaluate(limit=7)", "submit"]
        assert env.observation_space == gym.spaces.Box(-1, 1, (len(OBS_NAMES),), np.float32)
        assert env.get_wrapper_attr("obs_names") == OBS_NAMES
        obs, info = env.reset(seed=0)
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
        o = dict(zip(OBS_NAMES, obs.tolist(), strict=True))
        assert 0.95 < o["seconds_left_frac"] <= 1.0
        assert o["steps_left_frac"] == o["dev_evals_left_frac"] == 1.0
        assert o["has_dev_score"] == o["has_checkpoint"] == o["rounds_frac"] == 0.0
        assert o["best_dev_score"] == o["last_dev_score"] == o["last_data_level"] == -1.0
        mask = env.get_wrapper_attr("action_masks")()
        assert mask.dtype == bool and mask.tolist() == [True] * 12 + [
            False,
            True,
        ]  # no checkpoint to evaluate
        assert info["action_mask"].tolist() == mask.tolist()
        assert info["action_names"] == names
    finally:
        env.close()


def test_action_masks_reach_through_a_vec_env():
    """sb3-contrib's MaskablePPO reads masks with ``vec_env.env_method("action_masks")``."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([lambda: gym.make("PostTrainRecipe-v0", **NO_TRAIN)])
    try:
        vec.reset()
        (mask,) = vec.env_method("action_masks")
        assert mask.tolist() == [False, False, True]
    finally:
        vec.close()


def test_invalid_actions_cost_one_step_and_say_why():
    env = make(**{"reserve_s": 10_000.0, "max_steps": 5})
    try:
        env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(EVALUATE)
        assert "no checkpoint" in info["invalid_action"] and info["inner_steps"] == 1
        assert (reward, terminated, truncated) == (0.0, False, False)
        o = dict(zip(OBS_NAMES, obs.tolist(), strict=True))
        assert o["steps_left_frac"] == pytest.approx(4 / 5) and o["last_action_invalid"] == 1.0
        obs, *_, info = env.step(np.int64(TRAIN))
        assert "a training round needs" in info["invalid_action"] and info["rounds"] == 0
        obs, *_, info = env.step(np.array([SUBMIT]))
        assert "invalid_action" not in info and obs[OBS_NAMES.index("last_action_invalid")] == 0.0
        assert info["status"] == "invalid_checkpoint"  # submitted without training: graded as the base
        with pytest.raises(EpisodeNotRunning):
            env.step(SUBMIT)
    finally:
        env.close()


def test_on_the_compute_budget_the_mask_hides_what_the_tools_cannot_pay():
    """0.15 TFLOP: above the 5% share, below a round's start fee plus a dev check (train would
    fail in the tool), and below scoring 200 dev items (evaluate would fail): both masked, and
    stepping them anyway says why instead of burning tool calls on errors (a policy learned to
    repeat such failing calls until the step budget ran out)."""
    env = make(budget="compute", compute_tflop=0.15, eval_limit=200)
    try:
        env.reset(seed=0)
        masks = env.get_wrapper_attr("action_masks")
        assert masks().tolist() == [False, False, True]
        env.unwrapped.step({"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}})
        assert masks().tolist() == [False, False, True]  # a checkpoint now, but no compute to score it
        *_, info = env.step(EVALUATE)
        assert "scoring 200 dev items costs" in info["invalid_action"]
        *_, info = env.step(TRAIN)
        assert "a training round needs" in info["invalid_action"] and info["rounds"] == 0
        *_, info = env.step(SUBMIT)
        assert info["status"] == "ok"
    finally:
        env.close()


def test_out_of_space_actions_and_bad_config_raise_clear_errors():
    env = make(**NO_TRAIN)
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match=r"in \[0, 2\]"):
            env.step(3)
        with pytest.raises(ValueError, match="one integer action"):
            env.step(1.5)
    finally:
        env.close()
    with pytest.raises(ValueError, match="lr_levels"):
        RecipeConfig(lr_levels=())
    with pytest.raises(ValueError, match="whole numbers in data_levels"):
        RecipeConfig(data_levels=(10.5,))
    with pytest.raises(ValueError, match="eval_limit"):
        RecipeConfig(eval_limit=0)
    with pytest.raises(TypeError, match="PostTrainEnv"):
        RecipeWrapper(gym.make("CartPole-v1"))


def test_stable_baselines3_and_gymnasium_checkers_pass():
    """Both checkers step with unmasked random actions; ``train`` is masked here, so they stay cheap."""
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("PostTrainRecipe-v0", **NO_TRAIN)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # SB3's checker has nothing to warn about
            sb3_check_env(env, warn=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gym_check_env(env, skip_render_check=True)
        # Gymnasium's checker only notes that it checks a wrapper (the recipe wrapper is one).
        assert [w for w in caught if "different from the unwrapped version" not in str(w.message)] == []
    finally:
        env.close()


def _weights(folder) -> str:
    import hashlib

    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.safetensors")))).hexdigest()


@pytest.mark.slow
def test_fixed_episode_trains_evaluates_submits_and_is_graded():
    env = make()
    try:
        env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(TRAIN)
        assert [s["tool"] for s in info["inner"]] == ["bash", "train", "wait"], info["inner"]
        assert "macro_error" not in info and (reward, terminated, truncated) == (0.0, False, False)
        o = dict(zip(OBS_NAMES, obs.tolist(), strict=True))
        assert o["has_checkpoint"] == o["last_train_ok"] == 1.0 and o["rounds_frac"] == pytest.approx(0.1)
        assert o["last_data_level"] == 0.0 and info["action_mask"].tolist() == [True, True, True]
        obs, reward, terminated, truncated, info = env.step(EVALUATE)
        o = dict(zip(OBS_NAMES, obs.tolist(), strict=True))
        assert o["has_dev_score"] == 1.0 and 0.0 <= o["last_dev_score"] == o["best_dev_score"] <= 1.0
        assert o["dev_evals_left_frac"] < 1.0
        obs, reward, terminated, truncated, info = env.step(SUBMIT)
        assert terminated and not truncated
        assert info["status"] == "ok", info.get("reason")
        assert math.isfinite(reward) and reward == pytest.approx(info["score"] - info["base_score"])
        assert info["action_mask"].tolist() == [False, False, True]
    finally:
        env.close()


@pytest.mark.slow
def test_second_round_continues_from_final_model():
    env = make(continue_training=True)
    try:
        env.reset(seed=0)
        ws = env.unwrapped.workspace
        env.step(TRAIN)
        first = _weights(ws.final_model)
        obs, reward, terminated, truncated, info = env.step(TRAIN)
        assert "macro_error" not in info, info
        # the data file of this size exists already: no bash step; the checkpoint is moved after
        assert [s["tool"] for s in info["inner"]] == ["train", "wait", "bash"]
        assert info["rounds"] == 2 and obs[OBS_NAMES.index("has_checkpoint")] == 1.0
        assert not (ws.root / "rounds" / "2").exists()
        # training is deterministic: the same round from the base model would give `first` again
        assert _weights(ws.final_model) != first
    finally:
        env.close()


def test_short_task_defaults_to_levels_sized_to_its_budget():
    from ptb_env.tasks.tiny import SHORT_RECIPE_LEVELS

    env = gym.make("PostTrainRecipe-tiny-arith-short-v0", budget="compute")
    try:
        names = env.get_wrapper_attr("action_names")
        levels = SHORT_RECIPE_LEVELS
        assert (
            len(names)
            == len(levels["data_levels"]) * len(levels["lr_levels"]) * len(levels["steps_levels"]) + 2
        )
        assert names[0] == "train(data=500, lr=0.0005, steps=10)"
        assert names[-3] == "train(data=4000, lr=0.008, steps=60)"
    finally:
        env.close()
    # the caller's levels win; other tasks keep the RecipeConfig defaults
    env = gym.make(
        "PostTrainRecipe-tiny-arith-short-v0", steps_levels=(5,), lr_levels=(1e-3,), data_levels=(64,)
    )
    try:
        assert env.get_wrapper_attr("action_names")[0] == "train(data=64, lr=0.001, steps=5)"
    finally:
        env.close()
    env = gym.make("PostTrainRecipe-v0")
    try:
        assert env.get_wrapper_attr("config") == RecipeConfig()
    finally:
        env.close()


def test_maskable_ppo_reads_the_masks_and_only_takes_valid_actions():
    """sb3-contrib's MaskablePPO (what tests/perf/ppo_curve.py trains) over a vec env of the wrapper."""
    pytest.importorskip("sb3_contrib")
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env(lambda: gym.make("PostTrainRecipe-v0", **NO_TRAIN), n_envs=1, seed=0)
    try:
        model = MaskablePPO("MlpPolicy", vec, n_steps=4, batch_size=4, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=40, callback=StopTrainingOnMaxEpisodes(max_episodes=2))
        monitor = vec.envs[0]
        # train is always masked here, so every action was submit (the one valid action before a
        # checkpoint exists): each episode is one step
        assert monitor.get_episode_lengths()[:2] == [1, 1]
    finally:
        vec.close()


@pytest.mark.slow
def test_sb3_ppo_runs_two_full_episodes():
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes
    from stable_baselines3.common.monitor import Monitor

    env = Monitor(make(time_limit_s=60, max_steps=12))
    try:
        model = PPO("MlpPolicy", env, n_steps=4, batch_size=4, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=400, callback=StopTrainingOnMaxEpisodes(max_episodes=2))
        rewards = env.get_episode_rewards()
        assert len(rewards) >= 2 and all(math.isfinite(r) for r in rewards)
    finally:
        env.close()


def test_doc_lists_every_registered_recipe_id():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "recipe-wrapper.md").read_text()
    ids = [i for i in gym.registry if i.startswith("PostTrainRecipe-")]
    assert "PostTrainRecipe-v0" in ids
    for env_id in ids:
        task = gym.spec(env_id).kwargs["task"]
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{env_id}` |")), None)
        assert row is not None and f"| `{task}` |" in row, f"{env_id} missing from docs/recipe-wrapper.md"
