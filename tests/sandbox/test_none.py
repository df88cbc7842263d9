"""The explicit unsandboxed mode warns, and offers the same shell."""

from __future__ import annotations

import pytest

from ptb_env.sandbox import UnsandboxedWarning, make_sandbox


def test_none_mode_warns_and_works(workspace):
    with pytest.warns(UnsandboxedWarning, match="without isolation"):
        sb = make_sandbox(workspace, kind="none")
    try:
        sb.run("cd data && export X=1")
        assert sb.run("pwd; echo $X; timer").output == f"{workspace.root}/data\n1\ntime left: unlimited\n"
        job = sb.jobs.start("echo hi")
        assert sb.jobs.wait(job.id, 5)[0].exit_code == 0
    finally:
        sb.close()


def test_unknown_kind_is_rejected(workspace):
    with pytest.raises(ValueError, match='"bwrap" or "none"'):
        make_sandbox(workspace, kind="docker")  # type: ignore[arg-type]
