"""Background jobs: start, status, tail, kill, wait; they die with the episode and stay in it."""

from __future__ import annotations

import os
import time

import pytest

from ptb_env.sandbox import JobNotFound


def _episode_pids(sandbox_id: str) -> set[int]:
    """Host pids whose environment carries this sandbox's id (read from /proc on the host)."""
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"PTB_SANDBOX_ID={sandbox_id}".encode() in env and state != "Z":
            out.add(int(name))
    return out


def test_job_lifecycle(sandbox):
    sandbox.run("cd data && export MSG=hello")
    job = sandbox.jobs.start('echo "$MSG from $PWD"; sleep 0.3; echo bye; exit 3')
    assert sandbox.jobs.status(job.id)[0].state == "running"
    done = sandbox.jobs.wait(job.id, seconds=10)[0]
    assert (done.state, done.exit_code) == ("exited", 3)
    assert sandbox.jobs.tail(job.id) == "hello from /workspace/data\nbye\n"
    assert "job 1: exited (exit code 3)" in sandbox.jobs.render()


def test_kill_job_kills_its_process_group(sandbox):
    job = sandbox.jobs.start("sleep 200 & sleep 201")
    time.sleep(0.2)
    assert sandbox.jobs.kill(job.id).state == "killed"
    assert sandbox.run("pgrep -c sleep").output == "0\n"


def test_wait_seconds_is_bounded_by_the_budget(make):
    sb = make(time_left=lambda: 0.3)
    t0 = time.monotonic()
    sb.jobs.wait(seconds=30)
    assert time.monotonic() - t0 < 2


def test_unknown_job_is_a_clear_error(sandbox):
    with pytest.raises(JobNotFound, match="known jobs"):
        sandbox.jobs.tail(42)


def test_pkill_cannot_reach_another_episode(make, ws_root, model_dir):
    from ptb_env.workspace import Workspace

    a = make()
    b = make(ws=Workspace.create(ws_root, model_dir, task_card="b"))
    job = a.jobs.start("sleep 300")
    b.run("pkill -9 sleep; kill -9 -1")
    assert a.jobs.status(job.id)[0].state == "running"


def test_close_leaves_no_process(sandbox):
    sandbox.jobs.start("sleep 300")
    sandbox.jobs.start("setsid sleep 301 & nohup sleep 302 & wait")
    sandbox.run("(setsid sleep 303 &) ; sleep 304 &")
    time.sleep(0.3)
    before = _episode_pids(sandbox.id)
    assert len(before) >= 5
    ns = {os.readlink(f"/proc/{p}/ns/pid") for p in before} - {os.readlink("/proc/self/ns/pid")}
    assert len(ns) == 1  # the episode's own pid namespace
    sandbox.close()
    assert _episode_pids(sandbox.id) == set()
    left = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            zombie = open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
            if os.readlink(f"/proc/{name}/ns/pid") in ns and not zombie:
                left.append(name)
        except OSError:
            pass
    assert left == []
    sandbox.close()  # idempotent


def test_a_log_replaced_by_a_fifo_does_not_hang_tail(sandbox):
    job = sandbox.jobs.start("echo hi")
    sandbox.jobs.wait(job.id, 5)
    sandbox.run(f"rm {job.log} && mkfifo {job.log}")
    assert "not a regular file" in sandbox.jobs.tail(job.id)
    assert sandbox.generation == 1  # the shell was not restarted
    assert sandbox.run("echo alive").output == "alive\n"
