"""Coding-agent CLIs from npm (OpenCode, Codex CLI, Claude Code) play an episode via ``ptb-env mcp`` alone.

``examples/coding_agent_cli.py`` points the CLI at the model double (``model_double.py`` on
127.0.0.1: streamed chat completions for OpenCode, the Responses API for Codex CLI, Anthropic
Messages for Claude Code) with ``ptb-env mcp`` as its only tool source. The double's policy copies
the base model to ``final_model/`` and submits; the episode must be graded ``ok``. Proxies and the
npm registry point at a closed loopback port, so a fetch beyond loopback fails. Skipped where the
CLI is not installed (``.ci/run`` installs them into ``.node/``).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from ptb_env.reclaim import reclaim_orphans

pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "coding_agent_cli.py"
DEAD = "http://127.0.0.1:9"
"""A proxy and npm registry that refuse every connection: any fetch beyond loopback fails."""
OWN_TOOLS = {
    "shell",
    "local_shell",
    "exec_command",
    "write_stdin",
    "apply_patch",
    "bash",
    "edit",
    "write",
    "read",
    "grep",
    "glob",
    "list",
    "patch",
    "webfetch",
    "websearch",
    "web_search",
    "task",
}
"""The CLIs' own shell, file and web tools: none may be offered."""


def _load(path: Path) -> ModuleType:
    """The module at ``path`` (neither the tests nor the examples are packages)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return sys.modules[path.stem]


double = _load(Path(__file__).with_name("model_double.py"))
CLIS: dict[str, str] = _load(EXAMPLE).CLIS
"""The npm packages (versions) the example knows, which these tests ran with; ``.ci/run`` pins the same."""


def _binary(cli: str) -> str:
    """The CLI the example would run (``.node/`` of this repository, else PATH)."""
    local = ROOT / ".node" / "node_modules" / ".bin" / cli
    found = str(local) if local.exists() else shutil.which(cli)
    if found is None:
        pytest.skip(
            f"{cli} is not installed: npm install --prefix {ROOT / '.node'} {CLIS[cli]} "
            "(the npm registry must be reachable once; the test itself runs offline)"
        )
    return found


@pytest.mark.slow
@pytest.mark.parametrize("cli", sorted(CLIS))
def test_cli_submits_through_ptb_env_mcp_alone_and_is_graded_ok(
    cli: str, cache_dir: Path, bwrap: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    binary = _binary(cli)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(var, DEAD)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("npm_config_registry", DEAD)
    run = tmp_path / "run"
    t0 = time.monotonic()
    with double.ModelServer() as server:
        proc = subprocess.run(
            [sys.executable, str(EXAMPLE), "--cli", cli, "--binary", binary, "--base-url", server.base_url,
             "--model", "double-model", "--run-dir", str(run), "--timeout", "600"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    took = time.monotonic() - t0
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("reward ") and last.endswith(f"(status ok, {cli} exit 0)"), proc.stdout

    apis = {
        "opencode": ("/chat/completions", double.chat_turn),
        "codex": ("/responses", double.responses_turn),
    }
    api, turn = {**apis, "claude": ("/messages", double.messages_turn)}[cli]
    assert server.requests and all(r["path"].split("?")[0].endswith(api) for r in server.requests), (
        server.requests
    )
    played = [t for t in (turn(r["body"]) for r in server.requests) if t.tools]
    assert played, f"{cli} never offered the MCP tools"
    for offered in (t.tools for t in played):  # the MCP server's tools; the CLI's own shell, files, web: off
        assert not OWN_TOOLS & set(offered), offered
        ptb = [name for name in offered if "ptb" in name]
        if not ptb:  # Claude Code before its MCP server connected
            assert offered == [double.WAIT_TOOL], offered
            continue
        assert any(n.endswith("bash") for n in ptb) and any(n.endswith("submit") for n in ptb), offered
    results = [r for r in server.tool_results() if not r.startswith(double.WAIT_READY)]
    # the copy ran in the sandbox (Codex CLI shows the model the structured content, OpenCode the text)
    assert len(results) == 2 and ("[exit code: 0]" in results[0] or '"exit_code":0' in results[0]), results
    assert double.grade_of(results[1]) is not None and double.grade_of(results[1]).endswith("status ok")
    deadline = time.monotonic() + 60  # the CLI may exit before its MCP server has cleaned up
    while any((run / "workspaces").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = sorted(p.name for p in (run / "workspaces").iterdir())
    reclaim_orphans(run / "workspaces")  # Codex CLI may kill its MCP server halfway through the cleanup
    assert not any((run / "workspaces").iterdir()), left
    if cli != "codex":  # the others close the server's stdin and let it clean up
        assert left == [], left
    print(f"{cli} episode: {took:.0f} s, {len(server.requests)} model requests, {double.COPY_BASE!r}, submit")
