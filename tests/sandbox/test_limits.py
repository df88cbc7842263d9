"""Resource limits: a fork bomb, a memory hog and disk fillers are stopped; the session recovers."""

from __future__ import annotations

import time

import pytest

from ptb_env.sandbox import SandboxConfig

from .conftest import SMALL

pytestmark = pytest.mark.slow


def test_fork_bomb_is_contained(sandbox):
    r = sandbox.run("bomb() { bomb | bomb & }; bomb; sleep 3", timeout=6)
    assert any("process limit" in n for n in r.notes), r.notes
    t0 = time.monotonic()
    after = sandbox.run("echo alive; ls /proc | grep -c '^[0-9]'", timeout=20)
    assert after.output.startswith("alive\n") and time.monotonic() - t0 < 2
    assert int(after.output.split()[1]) < 10


def test_fork_bomb_escaping_its_process_group_is_contained(sandbox):
    sandbox.run("b() { setsid bash -c 'b() { b & b & }; b' & }; b", timeout=3)
    time.sleep(1.5)
    assert "alive" in sandbox.run("echo alive", timeout=20).output


def test_memory_hog_is_killed(sandbox):
    hog = "python -c 'a = []\nwhile True: a.append(bytearray(b\"x\" * 50_000_000))'"
    r = sandbox.run(hog, timeout=60)
    assert not r.timed_out and r.exit_code != 0
    assert any("memory" in n for n in r.notes) or "MemoryError" in r.output, r.render()
    assert "alive" in sandbox.run("echo alive").output


def test_file_size_limit(make):
    sb = make(SandboxConfig(max_file_size_mb=5, workspace_disk_mb=200))
    r = sb.run("head -c 20M /dev/zero > big; ls -l big | awk '{print $5}'")
    assert int(r.output.split()[-1]) <= 5 << 20


def test_tmp_is_size_limited(sandbox):
    r = sandbox.run("head -c 100M /dev/zero > /tmp/fill; du -m /tmp/fill | cut -f1")
    assert int(r.output.split()[-1]) <= SMALL.tmp_size_mb


def test_disk_filler_is_stopped_and_session_recovers(make, workspace):
    sb = make(SandboxConfig(workspace_disk_mb=50, max_file_size_mb=20, disk_check_interval_s=0.2))
    r = sb.run("i=0; while :; do head -c 10M /dev/zero > fill$i; i=$((i+1)); done", timeout=60)
    assert not r.timed_out and r.exit_code is None
    assert any("disk limit" in n for n in r.notes)
    used, _ = workspace.disk_usage()
    assert used < 2 << 30  # stopped within a watchdog interval (overshoot = write rate x interval)
    time.sleep(1)
    assert workspace.disk_usage()[0] == used  # nothing writes any more
    again = sb.run("rm -f fill*; echo recovered")
    assert "recovered" in again.output
    assert any("restarted" in n for n in again.notes)


def test_too_many_files_is_stopped(make):
    sb = make(SandboxConfig(workspace_max_files=2000, disk_check_interval_s=0.2))
    r = sb.run("mkdir many; cd many; i=0; while :; do : > f$i; i=$((i+1)); done", timeout=60)
    assert any("disk limit" in n for n in r.notes)
    assert "ok" in sb.run("rm -rf many; echo ok").output
