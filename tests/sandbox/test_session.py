"""The persistent shell: state persists, timeouts kill the call's process group, output is bounded."""

from __future__ import annotations

from ptb_env.sandbox import OUTPUT_LIMIT


def test_cd_and_exports_persist(sandbox):
    sandbox.run("mkdir -p a/b && cd a/b && export FOO='x y' BAR=1; NOT_EXPORTED=1")
    r = sandbox.run('pwd; echo "$FOO|$BAR|${NOT_EXPORTED-}|"')
    assert r.output == "/workspace/a/b\nx y|1||\n"
    sandbox.run("unset BAR; cd ..")
    assert sandbox.run('pwd; echo "${BAR-gone}"').output == "/workspace/a\ngone\n"


def test_exit_code_and_exit_do_not_kill_the_shell(sandbox):
    sandbox.run("export KEEP=1")
    assert sandbox.run("false").exit_code == 1
    r = sandbox.run("exit 7")
    assert r.exit_code == 7 and not r.notes
    assert sandbox.run("echo $KEEP").output == "1\n"


def test_timeout_kills_the_process_group_and_the_shell_survives(sandbox):
    sandbox.run("export KEEP=1")
    r = sandbox.run("sleep 100 & sleep 101; echo never", timeout=1)
    assert r.timed_out and r.exit_code is None
    assert "timed out" in r.render() and "never" not in r.output
    after = sandbox.run("pgrep -c sleep; echo $KEEP")
    assert after.output == "0\n1\n"


def test_timeout_is_bounded_by_the_budget(make):
    sb = make(time_left=lambda: 0.5)
    r = sb.run("sleep 30", timeout=60)
    assert r.timed_out and r.duration_s < 5
    assert any("budget" in n for n in r.notes)
    assert make(time_left=lambda: 0.0).run("echo hi").exit_code is None


def test_long_output_keeps_head_and_tail(sandbox):
    r = sandbox.run("seq 1 200000")
    assert len(r.output) <= OUTPUT_LIMIT + 200
    assert r.output.startswith("1\n2\n3\n") and r.output.endswith("199999\n200000\n")
    assert "chars cut" in r.output
    total = sum(len(f"{i}\n") for i in range(1, 200001))
    assert f"of {total} chars" in r.output  # the marker counts the whole output, once


def test_stdin_is_closed_and_binary_output_survives(sandbox):
    r = sandbox.run("cat; head -c 64 /dev/urandom; printf 'caf\\xc3\\xa9 \\xff\\n'", timeout=5)
    assert not r.timed_out and "café" in r.output


def test_killed_shell_restarts_and_says_so(sandbox):
    sandbox.run("cd data")
    r = sandbox.run("kill -9 -1")
    again = sandbox.run("pwd")
    assert "/workspace" in again.output
    assert any("restarted" in n for n in again.notes + r.notes) or r.exit_code is not None
