"""F6: a ``config.json`` memory bomb, played through ``env.step``, never reaches the env's memory.

The agent copies the base model to ``final_model/`` and widens its RoPE table 2**21
times (before the fix: the env process reached 23 GB at ``evaluate`` and the kernel's
OOM killer fired machine-wide). Now the allow-list refuses the key, and where a key
slipped through the allow-list, the jail's memory limit kills the evaluating child.
Either way ``evaluate`` answers with an observation error and ``submit`` grades the
base model with the reason.

Each episode runs in a subprocess under ``RLIMIT_AS``, so that a regression fails the
test instead of taking the machine down; it prints the peak RSS of the env process and
of its children (the jail's zygote and children, the sandbox).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from ptb_env.sandbox import SandboxUnavailable, find_bwrap

ENV_AS_LIMIT = 8 << 30
"""The episode's address-space limit: far below the bomb's 14-23 GB, far above an honest episode."""
PEAK_RSS_LIMIT = 3 << 30
"""Peak resident memory that any process of the episode may reach in these tests."""

EDIT = (
    "import json; p = 'final_model/config.json'; c = json.load(open(p)); "
    "c['rope_parameters'] = {'rope_type': 'linear', 'factor': 1, 'partial_rotary_factor': 2**21}; "
    "json.dump(c, open(p, 'w'))"
)
EPISODE = r"""
import json, resource, sys, warnings
from ptb_env.env import PostTrainEnv
from ptb_env.inference import jail
from ptb_env.integrity import IntegrityConfig

sandbox, root, hole = sys.argv[1], sys.argv[2], sys.argv[3] == "hole"
if hole:  # a key the allow-list misses: only the jail stands between the bomb and the machine
    import ptb_env.integrity.checkpoint as checkpoint
    checkpoint.compare_configs = lambda config, base: None
warnings.simplefilter("ignore")
integrity = IntegrityConfig(contamination=False)  # not under test here; the checkpoint checks are
env = PostTrainEnv("tiny-arith", sandbox=sandbox, workspace_root=root, integrity=integrity)
env.reset(seed=0)
bash = env.step({"tool": "bash", "args": {"command": sys.stdin.read()}})[0]
ev = env.step({"tool": "evaluate", "args": {"limit": 1}})[0]
_, reward, terminated, _, info = env.step({"tool": "submit"})
env.close()
jail.shutdown()  # reaps the zygote: its peak (and its children's) counts in RUSAGE_CHILDREN
print(json.dumps({
    "bash": bash["output"] + bash["error"], "evaluate": ev["output"], "evaluate_error": ev["error"],
    "status": info["status"], "reason": info["reason"], "reward": reward, "terminated": terminated,
    "rss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10,
    "rss_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss << 10,
}))
"""


def run_episode(tmp_path: Path, hole: bool) -> dict:
    try:
        find_bwrap()
        sandbox = "bwrap"
    except SandboxUnavailable:
        sandbox = "none"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ENV_AS_LIMIT, ENV_AS_LIMIT))

    command = f'cp -rL base_model/. final_model/ && python3 -c "{EDIT}" && echo edited'
    proc = subprocess.run(
        [sys.executable, "-c", EPISODE, sandbox, str(tmp_path / "ws"), "hole" if hole else "allow-list"],
        input=command, capture_output=True, text=True, timeout=900, preexec_fn=limit,
    )  # fmt: skip
    assert proc.returncode == 0, f"the env process failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"peak RSS: env process {out['rss_self'] / 2**20:.0f} MiB, its children "
        f"{out['rss_children'] / 2**20:.0f} MiB (address-space limit {ENV_AS_LIMIT >> 30} GiB)"
    )
    assert "edited" in out["bash"], out["bash"]
    assert out["rss_self"] < PEAK_RSS_LIMIT and out["rss_children"] < PEAK_RSS_LIMIT
    assert out["terminated"] and out["reward"] == 0.0 and out["evaluate"] == ""
    return out


@pytest.mark.slow
def test_f6_rope_bomb_is_refused_at_evaluate_and_graded_as_base_naming_the_key(tmp_path: Path):
    out = run_episode(tmp_path, hole=False)
    assert "rope_parameters.partial_rotary_factor" in out["evaluate_error"], out["evaluate_error"]
    assert "no dev evaluation was used" in out["evaluate_error"]
    assert out["status"] == "invalid_checkpoint", out
    assert "rope_parameters.partial_rotary_factor" in out["reason"], out["reason"]


@pytest.mark.slow
def test_a_bomb_past_the_allow_list_is_killed_by_the_jail_and_graded_as_base(tmp_path: Path):
    out = run_episode(tmp_path, hole=True)
    assert "exceeded the memory limit" in out["evaluate_error"], out["evaluate_error"]
    assert out["status"] == "invalid_checkpoint", out
    assert "exceeded the memory limit" in out["reason"], out["reason"]
