"""Resource limits: fork bombs, memory hogs, disk fillers and busy loops are stopped; the session recovers."""

from __future__ import annotations

import signal
import time

import pytest

from ptb_env.sandbox import SandboxConfig, UnenforcedLimitWarning
from ptb_env.sandbox.driver import quote
from ptb_env.sandbox.session import CPU_KILL_GRACE_S

from .conftest import SMALL

pytestmark = pytest.mark.slow


def test_fork_bomb_is_contained(sandbox):
    r = sandbox.run("bomb() { bomb | bomb & }; bomb; sleep 3", timeout=6)
    # Either the watchdog saw the limit reached and killed everything, or (on a loaded machine
    # where the bomb grows slowly) the call's timeout killed its process group; both contain it.
    assert any("process limit" in n for n in r.notes) or r.timed_out, r.render()
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


def test_cpu_limits_are_validated():
    for bad in ({"cpu_time_s": 0}, {"cpus": 0}, {"cpus": 0.001}, {"cpus": float("nan")}):
        with pytest.raises(ValueError, match="cpu"):
            SandboxConfig(**bad)


def test_cpu_time_limit_stops_a_busy_process_and_the_shell_survives(make):
    sb = make(SandboxConfig(cpu_time_s=1, workspace_disk_mb=200))
    raised = sb.run("ulimit -H -t unlimited && echo RAISED; ulimit -S -t; ulimit -H -t")
    assert "RAISED" not in raised.output and raised.output.split()[-2:] == ["1", str(1 + CPU_KILL_GRACE_S)]
    r = sb.run("python -c 'while True: pass'", timeout=60)
    assert not r.timed_out and r.exit_code == 128 + signal.SIGXCPU, r.render()
    assert "CPU time limit exceeded" in r.output
    assert "alive" in sb.run("echo alive").output


_BUSY = (
    "import sys, time\nt = time.time()\nwhile time.time() - t < 2: pass\n"
    "open(sys.argv[1], 'w').write(str(time.process_time()))"
)


def test_cpu_quota_bounds_the_whole_episode(make, workspace):
    sb = make(SandboxConfig(cpus=0.2, workspace_disk_mb=200))
    if sb.cpu_quota is None:
        pytest.skip("no usable cgroup CPU controller here (v1 `cpu` hierarchy or v2 `cpu` delegation)")
    assert sb.cpu_quota == 0.2
    # each busy process writes its own CPU seconds to a file, read here from the host
    r = sb.run(
        f"for i in 1 2; do python -c {quote(_BUSY)} cpu$i & done; wait; echo $OMP_NUM_THREADS", timeout=120
    )
    files = [workspace.root / f"cpu{i}" for i in (1, 2)]
    assert all(f.is_file() for f in files), (r.render(), sorted(p.name for p in workspace.root.iterdir()))
    assert r.output.split()[-1] == "1", r.render()
    used = [float(f.read_text()) for f in files]
    # two busy processes for 2 s: up to 4 CPU seconds on two free cores; 0.4 s under the quota
    assert sum(used) < 1.0, (used, r.render())
    assert sb._cgroup is not None and sb._cgroup.cpu_throttled() > 0


def test_unenforceable_cpu_quota_warns(make):
    with pytest.warns(UnenforcedLimitWarning, match="not enforced"):
        sb = make(SandboxConfig(cpus=0.5, use_cgroups=False))
    assert sb.cpu_quota is None and "ok" in sb.run("echo ok").output


def test_dev_is_read_only_and_shm_is_size_limited(sandbox):
    r = sandbox.run(
        "echo x > /dev/fill && echo WROTE; head -c 100M /dev/zero > /dev/shm/fill; "
        "du -m /dev/shm/fill | cut -f1"
    )
    assert "WROTE" not in r.output and "Read-only file system" in r.output
    assert int(r.output.split()[-1]) <= SMALL.tmp_size_mb
