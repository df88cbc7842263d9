"""Nothing outlives a dead owner: workspaces, control dirs and cgroups of killed env processes.

A child Python process makes an env, resets, starts ``sleep 300`` through ``env.step``
and dies without ``close()`` (SIGKILL, SIGTERM, an uncaught exception); what it leaves
is reclaimed at the next env start (construction or reset) or, for a normal exit, by
its own ``atexit`` hook. A live owner's episode is never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ptb_env.env import PostTrainEnv
from ptb_env.owner import Owner, running, start_time
from ptb_env.reclaim import reclaim_orphans
from ptb_env.sandbox import SandboxUnavailable, find_bwrap

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from ptb_env.env import PostTrainEnv

    env = PostTrainEnv(workspace_root=sys.argv[1])
    obs, info = env.reset(seed=0)
    obs, *_ = env.step({"tool": "job_start", "args": {"command": "sleep 300"}})
    assert not obs["error"], obs["error"]
    sb = env._sandbox
    dirs = [str(d) for d in sb._cgroup.dirs] if sb._cgroup is not None else []
    def argv(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().split(bytes(1))[:2]
        except OSError:
            return []

    deadline = time.monotonic() + 10  # the job's shell may not have exec'd sleep yet on a busy host
    while True:
        pids = sorted(sb.host_pids())
        sleep = [p for p in pids if argv(p) == [b"sleep", b"300"]]
        if sleep or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(json.dumps({"workspace": info["workspace"], "cgroups": dirs, "pids": pids, "sleep": sleep}))
    sys.stdout.flush()
    if sys.argv[2] == "raise":
        raise RuntimeError("user code failed")
    sys.stdin.read()  # until killed
    """
)


class Child:
    """A child process that owns one running episode (with ``sleep 300`` as a background job)."""

    def __init__(self, root: Path, mode: str = "wait") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.wait(timeout=60)
            pytest.fail(f"the child did not start its episode: {self.proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        info: dict[str, Any] = json.loads(line)
        self.workspace = Path(info["workspace"])
        self.cgroups = [Path(d) for d in info["cgroups"]]
        self.pids = {p: start_time(p) for p in info["pids"]}
        assert info["sleep"], "the job's `sleep 300` is not among the episode's processes"

    @property
    def leftovers(self) -> list[str]:
        """What of the episode is still on the host."""
        ws = self.workspace
        paths = [ws, ws.parent / f"{ws.name}.ctl", ws.parent / f"{ws.name}.owner", *self.cgroups]
        return [str(p) for p in paths if os.path.lexists(p)]

    def live_pids(self, wait_s: float = 0.0) -> list[int]:
        """The episode's processes still running (a reused pid or a zombie does not count)."""
        deadline = time.monotonic() + wait_s
        while True:
            live = [p for p, start in self.pids.items() if start is not None and running(p, start)]
            if not live or time.monotonic() >= deadline:
                return live
            time.sleep(0.1)

    def kill(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGKILL)
        reclaim_orphans(self.workspace.parent)


@pytest.fixture
def owners() -> Iterator[list[Child]]:
    """Children to make (each with a bwrap sandbox); killed and reclaimed at teardown."""
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    made: list[Child] = []
    yield made
    for o in made:
        o.close()


def test_sigkilled_owner_is_reclaimed_at_the_next_env_construction(tmp_path, owners):
    owner = Child(tmp_path / "ws")
    owners.append(owner)
    assert owner.workspace.is_dir() and owner.live_pids()
    owner.kill(signal.SIGKILL)
    assert len(owner.leftovers) >= 3  # workspace, control dir, owner file (and cgroups)
    straggler = None
    if owner.cgroups:  # a process the sandbox's death did not take: still in the dead owner's cgroup
        straggler = subprocess.Popen(["sleep", "300"])
        (owner.cgroups[0] / "cgroup.procs").write_text(str(straggler.pid))
    env = PostTrainEnv(workspace_root=tmp_path / "ws")
    try:
        assert owner.leftovers == []
        assert owner.live_pids(wait_s=5) == []
        if straggler is not None:
            assert straggler.wait(timeout=10) == -signal.SIGKILL
    finally:
        env.close()


def test_sigterm_owner_is_kept_while_alive_then_reclaimed_at_reset(tmp_path, owners):
    owner = Child(tmp_path / "ws")
    owners.append(owner)
    env = PostTrainEnv(workspace_root=tmp_path / "ws")  # the owner lives: nothing is taken
    try:
        assert len(owner.leftovers) >= 3 and owner.live_pids()
        assert reclaim_orphans(tmp_path / "ws").workspaces == []
        assert len(owner.leftovers) >= 3 and owner.live_pids()
        owner.kill(signal.SIGTERM)
        env.reset(seed=0)
        assert owner.leftovers == []
        assert owner.live_pids(wait_s=5) == []
        assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == sorted(
            [env.workspace.root.name, f"{env.workspace.root.name}.ctl", f"{env.workspace.root.name}.owner"]
        )
    finally:
        env.close()
    assert list((tmp_path / "ws").iterdir()) == []


def test_uncaught_exception_cleans_up_at_exit(tmp_path, owners):
    owner = Child(tmp_path / "ws", mode="raise")
    owners.append(owner)
    assert owner.proc.wait(timeout=60) == 1
    assert "user code failed" in owner.proc.stderr.read()  # type: ignore[union-attr]
    assert owner.leftovers == []  # no new env needed: the atexit hook closed it
    assert owner.live_pids(wait_s=5) == []


def test_live_owner_in_another_process_is_never_reclaimed(tmp_path, owners):
    owner = Child(tmp_path / "ws")
    owners.append(owner)
    before = owner.leftovers
    done = reclaim_orphans(tmp_path / "ws")
    assert done.workspaces == [] and not any(owner.workspace.name in c for c in done.cgroups)
    assert owner.leftovers == before and owner.live_pids()


def test_reclaim_follows_no_symlink_and_skips_what_it_cannot_judge(tmp_path):
    root, victim = tmp_path / "ws", tmp_path / "victim"
    root.mkdir()
    victim.mkdir()
    (victim / "keep").write_text("x")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = Owner.current()
    record = Owner(dead.pid, 1, me.boot_id, me.host, me.pid_ns).to_text()
    (root / "ep-link.owner").write_text(record)
    os.symlink(victim, root / "ep-link")  # a dead owner's workspace that is a link: unlinked, not followed
    os.symlink(victim, root / "ep-link.ctl")
    (root / "ep-linked-owner.owner").symlink_to(root / "ep-link.owner")  # a link, not an owner file
    (root / "ep-linked-owner").mkdir()
    (root / "ep-garbled.owner").write_text("not an owner file")
    (root / "ep-garbled").mkdir()
    (root / "ep-legacy").mkdir()  # no owner file (an older release, keep_workspace): kept
    done = reclaim_orphans(root, cgroups=False)
    assert done.workspaces == ["ep-link"]
    assert (victim / "keep").read_text() == "x"
    left = ["ep-garbled", "ep-garbled.owner", "ep-legacy", "ep-linked-owner", "ep-linked-owner.owner"]
    assert sorted(p.name for p in root.iterdir()) == left


def _episode(root: Path, name: str, owner: Owner) -> None:
    (root / f"{name}.owner").write_text(owner.to_text())
    (root / name / "data").mkdir(parents=True)
    (root / f"{name}.ctl").mkdir()


def test_a_reused_pid_is_not_the_owner(tmp_path):
    me = Owner.current()
    _episode(tmp_path, "ep-reused", Owner(me.pid, me.start - 1, me.boot_id, me.host, me.pid_ns))
    _episode(tmp_path, "ep-mine", me)
    _episode(tmp_path, "ep-elsewhere", Owner(10**7, 1, me.boot_id, "another-host", me.pid_ns))
    _episode(tmp_path, "ep-other-ns", Owner(10**7, 1, me.boot_id, me.host, me.pid_ns + 1))
    _episode(tmp_path, "ep-rebooted", Owner(me.pid, me.start, "an-earlier-boot", me.host, me.pid_ns))
    assert sorted(reclaim_orphans(tmp_path, cgroups=False).workspaces) == ["ep-rebooted", "ep-reused"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith((".ctl", ".owner"))) == [
        "ep-elsewhere", "ep-mine", "ep-other-ns",
    ]  # fmt: skip


def test_concurrent_reclaimers_take_turns(tmp_path):
    me = Owner.current()
    _episode(tmp_path, "ep-dead", Owner(me.pid, me.start - 1, me.boot_id, me.host, me.pid_ns))
    fd = os.open(tmp_path / "ep-dead.owner", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another reclaimer is at it
        assert reclaim_orphans(tmp_path, cgroups=False).workspaces == []
        assert (tmp_path / "ep-dead").is_dir()
    finally:
        os.close(fd)
    assert reclaim_orphans(tmp_path, cgroups=False).workspaces == ["ep-dead"]
    assert list(tmp_path.iterdir()) == []
