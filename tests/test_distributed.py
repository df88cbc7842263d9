"""ptb_env.distributed: specs, the serial runner, and the Ray runner on a local Ray instance."""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ptb_env.distributed
from ptb_agents import ScriptedSFTArgs
from ptb_env.distributed import RUN_FIELDS, EpisodeSpec, run_episodes, run_serial, sandbox_config_for
from ptb_env.errors import PtbEnvError, TaskNotFound
from ptb_env.rollout import OUTCOME_FIELDS
from ptb_env.sandbox import SandboxConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ray_episodes.py"
HAS_RECORDER = importlib.util.find_spec("ptb_env.wrappers.record") is not None
COMPARED = ("agent", "task", "seed", "status", "reward", "score", "base_score", "steps", "terminated",
            "truncated", "reason", "checkpoint")  # fmt: skip
"""Fields that must not depend on where an episode ran (not: wall times, pid, node)."""


def _ray():
    return pytest.importorskip("ray", reason='Ray is not installed (pip install "ptb-env[ray]")')


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance of 2 CPUs for this file's Ray tests, shut down after the last (each
    start and shutdown costs about 6 s)."""
    ray = _ray()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_docstring_examples_hold():
    assert doctest.testmod(ptb_env.distributed).failed == 0


def test_spec_names_the_closest_agent_on_a_typo():
    with pytest.raises(KeyError, match="Did you mean: 'scripted-sft'"):
        EpisodeSpec("scripted_sft")


def test_spec_rejects_an_unknown_task_before_anything_runs():
    with pytest.raises(TaskNotFound):
        EpisodeSpec("noop", "tiny-arithmetic")


def test_episode_cpus_become_the_sandbox_quota_and_keep_the_task_defaults():
    config = sandbox_config_for(EpisodeSpec("noop", "tiny-arith"), num_cpus=2)
    assert config.cpus == 2.0
    assert (config.network, config.memory_mb, config.gpu) == (False, SandboxConfig().memory_mb, False)


def test_a_spec_sandbox_quota_wins_over_the_episode_cpus():
    spec = EpisodeSpec("noop", env_kwargs={"sandbox_config": SandboxConfig(cpus=0.5, memory_mb=1024)})
    config = sandbox_config_for(spec, num_cpus=2)
    assert (config.cpus, config.memory_mb) == (0.5, 1024)


def test_episode_gpus_reach_the_sandbox_with_ray_visible_devices():
    config = sandbox_config_for(EpisodeSpec("noop"), num_cpus=1, num_gpus=1)
    assert config.gpu and "CUDA_VISIBLE_DEVICES" in config.pass_env


def test_serial_reports_a_failing_episode_and_runs_the_rest():
    specs = [EpisodeSpec("noop", seed=0, env_kwargs={"reward_mode": "bogus"}), EpisodeSpec("noop", seed=1)]
    bad, good = run_serial(specs, progress=False)
    assert bad["status"] == "infra_error" and "reward_mode" in bad["error"] and bad["reward"] == 0.0
    assert good["status"] == "ok" and good["terminated"] and good["index"] == 1
    # every row, failed or not, is the episode's EpisodeResult plus where and when it ran
    assert list(bad) == list(good) == ["index", *OUTCOME_FIELDS, *RUN_FIELDS]
    assert good["uplift"] == 0.0 and good["checkpoint"] and math.isnan(bad["score"])


@pytest.mark.skipif(not HAS_RECORDER, reason="ptb_env.wrappers.record (RecordTrajectory) is not there")
def test_serial_writes_one_trajectory_per_episode(tmp_path):
    (row,) = run_serial([EpisodeSpec("noop", seed=4)], trajectories_dir=tmp_path / "traj", progress=False)
    lines = [json.loads(x) for x in Path(row["trajectory"]).read_text().splitlines()]
    assert Path(row["trajectory"]).parent == tmp_path / "traj"
    assert lines[0]["type"] == "episode" and lines[-1]["type"] == "result"
    assert lines[-1]["status"] == row["status"] and lines[-1]["seed"] == 4


# -- Ray ----------------------------------------------------------------------------------------


def _tiny_sft_specs(cache_dir: Path) -> list[EpisodeSpec]:
    """2 episodes of scripted-sft, different seeds and learning rates, 20 optimizer steps each (a
    fixed number of steps, not a time-fitted run, so the same seed trains the same weights).

    Two are enough: Ray runs them at once on its 2 CPUs, and they train different weights."""
    return [
        EpisodeSpec(
            "scripted-sft",
            "tiny-arith",
            seed,
            time_limit_s=900,
            agent_kwargs={
                "args": ScriptedSFTArgs(max_steps=20, batch_size=16, learning_rate=lr, dev_limit=5)
            },
            # test_limit: tests/conftest.py's TEST_LIMIT, set here because Ray's actors do not
            # see the suite's task registry
            env_kwargs={"score_cache_dir": cache_dir, "test_limit": 64},
        )
        for seed, lr in ((0, 3e-3), (1, 6e-3))
    ]


@pytest.fixture(scope="module")
def serial_and_ray(tmp_path_factory, local_ray):
    """The 2 tiny episodes on the local Ray instance of 2 CPUs (2 at once), and the first of them
    again serially in this process.

    The serial run is the first spec's alone: one episode is what "the same spec gives the same
    row on Ray as serially" needs, and the second would add about 20 s of training. Each run has
    its own score cache, so the Ray run scores its checkpoints itself. With ``-s`` it prints the
    wall times and each episode's figures.
    """
    tmp = tmp_path_factory.mktemp("scale")
    traj = {"serial": tmp / "traj-serial", "ray": tmp / "traj-ray"} if HAS_RECORDER else {}
    specs = _tiny_sft_specs(tmp / "cache-ray")
    t0 = time.perf_counter()
    on_ray = run_episodes(specs, num_cpus_per_episode=1, trajectories_dir=traj.get("ray"))
    t1 = time.perf_counter()
    serial = run_serial(
        _tiny_sft_specs(tmp / "cache-serial")[:1], num_cpus_per_episode=1, trajectories_dir=traj.get("serial")
    )
    t2 = time.perf_counter()
    print(f"\nRay episodes {t1 - t0:.1f} s; serial (the first) {t2 - t1:.1f} s")
    for s, r in zip(serial, on_ray, strict=False):
        print(
            f"  spec {s['index']} seed {s['seed']}: "
            f"serial {s['status']} {s['reward']:+.4f} ({s['seconds']:.1f} s), "
            f"Ray {r['status']} {r['reward']:+.4f} ({r['seconds']:.1f} s, pid {r['pid']}), "
            f"checkpoint {s['checkpoint'][:12]} / {r['checkpoint'][:12]}"
        )
    return serial, on_ray


@pytest.mark.slow
def test_ray_results_equal_serial_results_spec_by_spec(serial_and_ray):
    (s,), on_ray = serial_and_ray
    assert [r["index"] for r in on_ray] == [0, 1] and [r["seed"] for r in on_ray] == [0, 1]
    assert s["status"] == "ok", s["error"]
    r = on_ray[0]
    assert {k: r[k] for k in COMPARED} == {k: s[k] for k in COMPARED}
    assert r["integrity"]["lineage"]["evidence"] == s["integrity"]["lineage"]["evidence"]
    assert not r["grade"]["cached"]  # scored on its own, not read from the serial run's cache
    assert on_ray[1]["status"] == "ok", on_ray[1]["error"]
    assert len({r["checkpoint"] for r in on_ray}) == 2  # 2 different trainings: equality is not trivial


@pytest.mark.slow
def test_ray_runs_two_episodes_at_a_time_in_their_own_actors(serial_and_ray):
    _, on_ray = serial_and_ray
    events = sorted([(r["started_at"], 1) for r in on_ray] + [(r["ended_at"], -1) for r in on_ray])
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 2
    assert len({r["pid"] for r in on_ray}) == 2


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RECORDER, reason="ptb_env.wrappers.record (RecordTrajectory) is not there")
def test_ray_sends_each_trajectory_back_to_the_driver(serial_and_ray):
    serial, on_ray = serial_and_ray

    def tools(row):  # the actions' tools (a train call's max_seconds follows the clock)
        lines = [json.loads(x) for x in Path(row["trajectory"]).read_text().splitlines()]
        assert lines[-1]["type"] == "result" and lines[-1]["reward"] == row["reward"]
        return [x["tool"] for x in lines if x["type"] == "step"]

    assert tools(on_ray[0]) == tools(serial[0])
    for r in on_ray:
        assert len(tools(r)) == r["steps"]


@pytest.mark.slow
def test_ray_reports_a_failing_episode_and_runs_the_rest(local_ray):
    specs = [EpisodeSpec("noop", seed=0), EpisodeSpec("noop", seed=1, env_kwargs={"reward_mode": "bogus"})]
    good, bad = run_episodes(specs, progress=False)
    assert good["status"] == "ok" and good["terminated"]
    assert bad["status"] == "infra_error" and "reward_mode" in bad["error"]
    assert local_ray.is_initialized()  # a Ray the caller started stays up


@pytest.mark.slow
def test_ray_refuses_episodes_bigger_than_the_cluster(local_ray):
    with pytest.raises(PtbEnvError, match="the Ray cluster has 2 CPUs"):
        run_episodes([EpisodeSpec("noop")], num_cpus_per_episode=4, progress=False)


@pytest.mark.slow
def test_ray_example_prints_one_row_per_episode(tmp_path):
    _ray()
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--agents", "noop", "--seeds", "2", "--num-cpus", "2",
         "--json", str(tmp_path / "rows.json")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["agent"], r["seed"], r["status"]) for r in rows] == [("noop", 0, "ok"), ("noop", 1, "ok")]
    assert sum(line.startswith("noop ") for line in proc.stdout.splitlines()) == 2


class _LinkToHostFile:
    """An agent whose checkpoint is a link out of the workspace to a host file it may not read."""

    name = "link-out"

    def __init__(self, env: object, target: str) -> None:
        self.calls = [
            {"tool": "bash", "args": {"command": f"ln -sf {target} final_model/model.safetensors"}},
            {"tool": "submit", "args": {}},
        ]

    def reset(self, obs: dict, info: dict, seed: int | None) -> None:
        pass

    def act(self, obs: dict, info: dict | None = None) -> dict:
        return self.calls.pop(0)


def test_the_checkpoint_hash_never_reads_a_file_the_agent_links_to(tmp_path):
    """The row's fingerprint is the grader's, of its own copy: a link out of the workspace is
    refused there and never followed on the host (the runner used to hash what it pointed at)."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"host secret")
    spec = EpisodeSpec(_LinkToHostFile, agent_kwargs={"target": str(secret)}, seed=0)
    (row,) = run_serial([spec], progress=False)
    assert row["status"] == "invalid_checkpoint", row
    assert row["checkpoint"] == ""
