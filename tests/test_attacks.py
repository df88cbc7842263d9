"""Attacks on the host through ``env.step`` only (issue "Integrity under attack", F1-F3, F5, F7, F8, F10).

Each test plays a malicious agent: it acts only through tool calls, as an RL policy
would, and checks that the attack neither wins reward nor reaches the host nor makes
``env.step`` raise or hang.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ptb_env.env import PostTrainEnv
from ptb_env.paths import PACKAGE_DIR
from ptb_env.sandbox import SandboxUnavailable, find_bwrap

SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
os.chdir("data/race")
while True:
    libc.renameat2(AT_FDCWD, b"d", AT_FDCWD, b"l", RENAME_EXCHANGE)
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, seed_score_cache) -> Path:
    """The module's score cache, starting with the session's base scores (``tests/conftest.py``)."""
    return seed_score_cache(tmp_path_factory.mktemp("attack_cache"))


@pytest.fixture
def make_env(tmp_path: Path, cache_dir: Path) -> Iterator[Any]:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    made: list[PostTrainEnv] = []

    def _make(**kwargs: Any) -> PostTrainEnv:
        kwargs.setdefault("workspace_root", tmp_path / "ws")
        kwargs.setdefault("score_cache_dir", cache_dir)
        kwargs.setdefault("max_steps", 1000)
        env = PostTrainEnv("tiny-arith", **kwargs)
        env.reset(seed=0)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def act(env: PostTrainEnv, tool: str, **args: Any) -> dict[str, Any]:
    obs, _, terminated, truncated, _ = env.step({"tool": tool, "args": args})
    assert not (terminated or truncated)
    return obs


def bash(env: PostTrainEnv, command: str, **args: Any) -> str:
    obs = act(env, "bash", command=command, **args)
    return obs["output"] + obs["error"]


@pytest.mark.slow
def test_f1_symlink_swap_race_never_leaks_a_host_file(make_env, tmp_path):
    """F1: a job swaps a data directory with a link to a host directory while `train` snapshots it."""
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "heldout.json").write_text("SECRET-HELD-OUT\n")
    env = make_env()
    ws = env.workspace
    assert ws is not None
    bash(
        env,
        f"mkdir -p data/race/d && echo '{{}}' > data/race/d/heldout.json && ln -s {secret_dir} data/race/l",
    )
    bash(env, f"cat > swap.py <<'EOF'\n{SWAPPER}\nEOF")
    act(env, "job_start", command="python3 swap.py")
    time.sleep(0.5)
    tries, leaked = 0, 0
    for _ in range(int(os.environ.get("PTB_RACE_TRIES", "30"))):  # the note's soak: PTB_RACE_TRIES=200
        obs = act(env, "train", data="data/race/d/heldout.json", max_steps=1, max_seconds=1)
        tries += 1
        if obs["error"]:
            continue  # the snapshot met the link: refused
        act(env, "job_kill", job_id=env.last_call.result.data["job"]["id"])
    for snap in ws.snapshot_dir.iterdir():
        leaked += "SECRET" in snap.read_text(errors="replace")
    print(f"race: {tries} tries, {len(list(ws.snapshot_dir.iterdir()))} snapshots, {leaked} leaks")
    assert leaked == 0


def test_f2_f3_the_agent_is_not_host_root(make_env):
    """F2/F3: no write to /proc/sys or sysrq; created files are not root's; the workspace is 0700."""
    env = make_env()
    ws = env.workspace
    assert ws is not None
    out = bash(
        env,
        "python3 -c 'import os; os.open(\"/proc/sys/kernel/core_pattern\", os.O_WRONLY)' 2>&1 | tail -1; "
        "echo x > /proc/sysrq-trigger; cp /usr/bin/id sid && chmod 4755 sid; unshare -U true && echo NESTED",
    )
    assert "PermissionError" in out or "Read-only" in out, out
    assert "NESTED" not in out
    st = os.lstat(ws.root / "sid")
    assert st.st_uid != 0 and st.st_gid != 0
    if os.geteuid() == 0:
        assert st.st_uid != os.geteuid()
    assert stat.S_IMODE(os.stat(ws.root).st_mode) == 0o700
    assert "nosuid" in bash(env, "grep ' /workspace ' /proc/mounts")


def test_f5_sparse_file_is_not_amplified_and_quota_is_charged(make_env):
    """F5: a 1 GiB sparse file snapshots as a sparse file; snapshots count against the disk quota."""
    from ptb_env.sandbox import SandboxConfig

    env = make_env(sandbox_config=SandboxConfig(workspace_disk_mb=64))
    ws = env.workspace
    assert ws is not None
    bash(env, "truncate -s 1G x.jsonl")
    act(env, "train", data="x.jsonl", max_steps=1, max_seconds=1)
    used = sum(p.stat().st_blocks * 512 for p in ws.snapshot_dir.iterdir())
    assert used < 1 << 20
    bash(env, "head -c 40M /dev/urandom | base64 -w 100 > big.jsonl")
    first = act(env, "train", data="big.jsonl", max_steps=1, max_seconds=1)
    second = act(env, "train", data="big.jsonl", max_steps=1, max_seconds=1)
    assert "copy limit" in first["error"] + second["error"]


def test_f7a_forged_end_token_restarts_the_shell(make_env):
    """F7a: a thief reads the driver's input and prints a forged end line with garbage fields."""
    env = make_env()
    thief = (
        "(sleep 1; head -c 400 /proc/2/fd/0 | grep -o '__PTB_END_[0-9a-f]*__' | head -1 "
        "| xargs -I T printf '\\nT x y\\n') &"
    )
    bash(env, thief)
    time.sleep(1.5)
    act(env, "bash", command="echo victim")  # must not raise
    assert "again" in bash(env, "echo again")


def test_f7b_a_flooding_background_process_does_not_break_job_start(make_env):
    env = make_env()
    bash(env, "(timeout 120 yes g) &")
    for _ in range(10):  # each start races the flood between the job's pid and the end line
        obs = act(env, "job_start", command="sleep 0.2")
        assert not obs["error"], obs["error"]
    assert "job 10" in act(env, "wait", job_id=10)["output"]


@pytest.mark.slow
def test_f7c_stopped_driver_is_restarted(make_env):
    env = make_env()
    act(env, "job_start", command="sleep 0.5; kill -STOP 2")
    t0 = time.monotonic()
    act(env, "wait", seconds=3)
    act(env, "bash", command="echo after")
    assert "alive" in bash(env, "echo alive")
    assert time.monotonic() - t0 < 30


def test_f7d_deep_directories_give_an_error_not_a_crash(make_env):
    env = make_env()
    deep = "/".join(["d"] * 1200)
    bash(env, f"mkdir -p {deep} && echo '{{}}' > {deep}/x.jsonl")
    assert act(env, "train", data="d", max_steps=1)["error"]  # a 1,200-deep directory
    assert act(env, "train", data=f"{deep}/x.jsonl", max_steps=1, max_seconds=1)["output"]
    assert act(env, "evaluate", model="d")["error"]


@pytest.mark.slow
def test_f8_stopped_driver_and_a_long_command_do_not_hang(make_env):
    """F8: the driver is stopped, then a command over 64 KiB is written to it; close() is prompt."""
    env = make_env()
    bash(env, "(sleep 1; kill -STOP 2) &")
    time.sleep(1.5)
    t0 = time.monotonic()
    act(env, "bash", command="echo " + "x" * 200_000 + " >/dev/null", timeout=5)
    assert time.monotonic() - t0 < 20
    bash(env, "(sleep 1; kill -STOP 2) &")
    time.sleep(1.5)
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (env.step({"tool": "bash", "args": {"command": "x" * 300_000}}), done.set()),
        daemon=True,
    )
    worker.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    env.close()
    assert time.monotonic() - t0 < 15
    worker.join(timeout=15)


def test_f10_no_host_path_reaches_the_agent(make_env):
    env = make_env()
    ws = env.workspace
    assert ws is not None
    out = bash(env, "readlink base_model; ln -s /proc/self/fd/1 final_model/model.safetensors")
    obs = act(env, "evaluate", model="final_model")
    shown = out + obs["output"] + obs["error"]
    for host in (str(PACKAGE_DIR), str(ws.root), sys.executable, str(ws.base_model_dir)):
        assert host not in shown, (host, shown)
    assert "/opt/ptb/base_model" in out
    assert obs["error"]


@pytest.mark.slow
def test_a_fork_bomb_on_one_cpu_is_killed_by_the_watchdog_and_leaves_nothing(make_env):
    """The classic bomb on one CPU (as on a busy machine, or in a pinned test worker): bash's
    `fork: retry` backoff makes it hit the process limit only every other watchdog check, which
    "two checks in a row" missed in 3 of 4 runs; the bomb then sat at the limit after the call.
    The watchdog now kills on two hits among its last four checks."""
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})  # this thread's: the sandbox and its watchdog inherit it
    try:
        env = make_env()
        t0 = time.monotonic()
        out = bash(env, "bomb() { bomb | bomb & }; bomb; sleep 3", timeout=8)
        assert "process limit reached" in out, out[-500:]
        assert time.monotonic() - t0 < 8
        after = bash(env, "echo alive; ls /proc | grep -c '^[0-9]'")
    finally:
        os.sched_setaffinity(0, mask)
    assert "alive\n" in after, after
    assert int(after.split("alive\n")[1].split()[0]) < 10, after


@pytest.mark.slow
def test_a_fork_bomb_in_its_own_session_that_kills_the_shell_does_not_block_the_restart(make_env):
    """A bomb `setsid` puts out of the call's process group, then the agent kills its own shell
    (pid 2). The pid namespace takes the bomb down with the shell, and the restart empties the
    episode's cgroup before the new shell joins it, so nothing still dying there keeps the new
    shell from forking (CI at 7a1577f once failed with "The sandbox did not start" after a
    setsid bomb). Here it passed without that emptying too (6 of 6): it guards the outcome."""
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})  # the sandbox inherits it: the bomb and the restart race
    try:
        env = make_env()
        bash(env, "setsid bash -c 'b() { b & b & }; b' & read -t 0.5 < /dev/zero; kill -9 2", timeout=5)
        after = act(env, "bash", command="echo alive; ls /proc | grep -c '^[0-9]'")
    finally:
        os.sched_setaffinity(0, mask)
    text = after["output"] + after["error"]
    assert "alive\n" in text, text[-1000:]
    assert int(text.split("alive\n")[1].split()[0]) < 10, text


BURSTS = """
import os, signal, time

def fork_until_refused(kids):
    while True:
        try:
            kids.append(os.posix_spawnp("sleep", ["sleep", "120"], {}))
        except OSError:
            return

def kill(kids):
    for kid in kids:
        os.kill(kid, signal.SIGKILL)
    for kid in kids:
        os.waitpid(kid, 0)

held = []
fork_until_refused(held)  # once: up to the limit, then 20 below it, where the count stays
kill(held[-20:])
del held[-20:]
for burst in range(60):
    extra = []
    fork_until_refused(extra)  # back to the limit: refused
    kill(extra)  # and at once 20 below it again
    time.sleep(0.1)
print("finished")
"""
"""A bomb that holds the episode 20 processes below its limit and, ten times a second, forks up to
it and dies back at once: between two checks of the watchdog the count is below the limit, but
forks were refused. Only the first fill (hundreds of forks) depends on how fast the machine
forks; each burst is 20 forks."""


@pytest.mark.slow
def test_a_fork_bomb_that_dies_back_between_checks_is_killed(make_env):
    """Bursts of forks that hit the process limit and die back before the next check (as bash's
    own `fork: retry` backoff does) keep the episode at its limit without sitting there: the
    refused forks, not only a full process table, set off the watchdog.

    ``BURSTS`` reaches the limit however slowly the machine forks: the bash loop of `sleep 0.5 &`
    this test used first never reached it on a loaded machine (its sleeps ended before the 512th
    fork), and the test then failed for want of a bomb. Counting only the processes at each
    check misses ``BURSTS`` (it printed "finished" with that criterion alone)."""
    env = make_env()
    t0 = time.monotonic()
    out = bash(env, f"python3 - <<'EOF'\n{BURSTS}EOF", timeout=60)
    assert "process limit reached" in out and "finished" not in out, out
    assert time.monotonic() - t0 < 20
    assert "alive" in bash(env, "echo alive")
