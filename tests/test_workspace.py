"""Workspace creation, the timer, safe path resolution and export, removal."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from ptb_env.budget import Budget
from ptb_env.workspace import Workspace, WorkspaceError


@pytest.fixture
def model(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    with open(d / "model.safetensors", "wb") as f:  # a 1 GB sparse file: nothing may copy it
        f.truncate(1 << 30)
    return d


def test_layout_and_model_is_linked(tmp_path, model):
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"q": 1}\n')
    t0 = time.perf_counter()
    ws = Workspace.create(tmp_path / "ws", model, task_card="# Task", visible_files={"dev.jsonl": dev})
    assert time.perf_counter() - t0 < 1.0
    assert (ws.root / "base_model").is_symlink()
    assert os.readlink(ws.root / "base_model") == str(model.resolve())
    assert (ws.data_dir / "dev.jsonl").read_text() == '{"q": 1}\n'
    assert ws.task_card_path.read_text() == "# Task"
    assert ws.final_model.is_dir() and not any(ws.final_model.iterdir())
    used, _ = ws.disk_usage()
    assert used < 1 << 20  # the 1 GB model was not copied
    ws.remove()
    assert not ws.root.exists() and not ws.control_dir.exists() and model.exists()


def test_timer_reads_the_budget(tmp_path, model):
    ws = Workspace.create(tmp_path / "ws", model, task_card="t")
    ws.write_budget(Budget.from_limits(seconds=125, steps=7))
    out = subprocess.run([str(ws.timer_path)], capture_output=True, text=True, check=True).stdout
    assert out.startswith("time left: 0:02:0") and "steps left: 7" in out
    assert "dev evaluations" not in out  # unlimited ledgers are not printed


def test_errors_say_what_to_do(tmp_path, model):
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace.create(tmp_path / "ws", tmp_path / "missing", task_card="t")
    Workspace.create(tmp_path / "ws", model, task_card="t", episode_id="e1")
    with pytest.raises(WorkspaceError, match="already exists"):
        Workspace.create(tmp_path / "ws", model, task_card="t", episode_id="e1")
    with pytest.raises(WorkspaceError, match="relative"):
        Workspace.create(tmp_path / "ws", model, task_card="t", visible_files={"../x": b""})


def test_resolve_and_export_refuse_escapes(tmp_path, model):
    ws = Workspace.create(tmp_path / "ws", model, task_card="t")
    secret = tmp_path / "secret"
    secret.write_text("SECRET")
    (ws.final_model / "config.json").write_text("{}")
    (ws.final_model / "tok.json").symlink_to(ws.root / "TASK.md")  # inside: allowed
    (ws.final_model / "rel.json").symlink_to("../TASK.md")  # inside, relative: allowed
    assert ws.export("final_model", tmp_path / "out") is True
    assert (tmp_path / "out" / "tok.json").read_text() == "t"
    assert (tmp_path / "out" / "rel.json").read_text() == "t"
    (ws.final_model / "leak").symlink_to(secret)
    with pytest.raises(WorkspaceError, match="leaves the workspace") as err:
        ws.export("final_model", tmp_path / "out2")
    assert str(tmp_path) not in str(err.value).replace(str(secret), "")  # names the link's text only
    with pytest.raises(WorkspaceError, match="leaves the workspace"):
        ws.resolve("../../secret")
    (ws.final_model / "leak").unlink()
    os.mkfifo(ws.final_model / "fifo")
    with pytest.raises(WorkspaceError, match="not a regular file"):
        ws.export("final_model", tmp_path / "out3")
    assert ws.resolve("base_model/config.json") == "file"
    assert ws.resolve("data") == "dir"


def test_export_keeps_holes_and_counts_data_not_size(tmp_path, model):
    ws = Workspace.create(tmp_path / "ws", model, task_card="t")
    with open(ws.root / "sparse.jsonl", "wb") as f:
        f.write(b'{"a": 1}\n')
        f.truncate(1 << 30)  # 1 GiB apparent, a few bytes of data
    assert ws.export("sparse.jsonl", tmp_path / "copy", max_bytes=1 << 20) is False
    st = os.stat(tmp_path / "copy")
    assert st.st_size == 1 << 30 and st.st_blocks * 512 < 1 << 20
    with pytest.raises(WorkspaceError, match="over the limit"):
        ws.export("sparse.jsonl", tmp_path / "copy2", max_file_size=1 << 20)
    (ws.root / "dense").write_bytes(b"x" * (2 << 20))
    with pytest.raises(WorkspaceError, match="larger than the copy limit"):
        ws.export("dense", tmp_path / "copy3", max_bytes=1 << 20)


def test_export_walks_deep_trees_without_recursion(tmp_path, model):
    ws = Workspace.create(tmp_path / "ws", model, task_card="t")
    deep = "/".join(["d"] * 1200)
    subprocess.run(["mkdir", "-p", deep], cwd=ws.root, check=True)
    with pytest.raises(WorkspaceError, match="deeper than"):
        ws.export("d", tmp_path / "out")
    with pytest.raises(WorkspaceError, match="does not exist"):
        ws.export(deep + "/x.jsonl", tmp_path / "out2")
    subprocess.run(["rm", "-rf", "--", str(ws.root / "d")], check=True)


def test_remove_handles_read_only_dirs(tmp_path, model):
    ws = Workspace.create(tmp_path / "ws", model, task_card="t")
    (ws.root / "ro").mkdir()
    (ws.root / "ro" / "f").write_text("x")
    os.chmod(ws.root / "ro", 0o500)
    ws.remove()
    ws.remove()
    assert not ws.root.exists()


def test_remove_handles_trees_deeper_than_the_recursion_limit(tmp_path, model):
    ws = Workspace.create(tmp_path / "ws", model, task_card="t")
    deep = "/".join(["dddd"] * 1100)  # deeper than sys.getrecursionlimit(), longer than PATH_MAX
    subprocess.run(["mkdir", "-p", deep], cwd=ws.root, check=True)
    os.chmod(ws.root / "dddd", 0o500)
    try:
        ws.remove()
        assert not ws.root.exists()
    finally:  # pytest's own clean-up of tmp_path would fail on the tree too
        subprocess.run(["rm", "-rf", "--", str(tmp_path / "ws")], check=False)
