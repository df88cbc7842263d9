"""One PostTrain episode played by a coding-agent CLI whose only tools are `ptb-env mcp`'s.

    npm install --prefix .node opencode-ai@1.18.33  # or: @openai/codex, @anthropic-ai/claude-code
    vllm serve Qwen/Qwen3-8B --enable-auto-tool-choice --tool-call-parser hermes
    python examples/coding_agent_cli.py --cli opencode --base-url http://127.0.0.1:8000/v1 \
        --model Qwen/Qwen3-8B

The script writes the CLI's config into a fresh run directory: the model is a custom provider
at ``--base-url`` (OpenCode: OpenAI-compatible chat completions; Codex CLI: the Responses API;
Claude Code: the Anthropic Messages API); the one MCP server is ``ptb-env mcp`` (one episode);
the CLI's own tools (shell, file edits, web, plugins) are off. It runs the CLI non-interactively
with the task card as the prompt (``opencode run --pure --format json``, ``codex exec --json``,
``claude -p --output-format stream-json``), prints each tool call, then reads the grade from
the MCP server's tool result (its ``[grade]`` line, or the ``grade`` of its structured content)
and prints the reward line. The episode's workspace is removed when the CLI exits.

HOME, XDG and CODEX_HOME point into the run directory, so the user's own config, sessions and
credentials are neither read nor written; update checks, model-list fetches, sharing, plugins,
telemetry and analytics are off, so nothing but the model server is contacted.
See docs/coding-agents.md for these configs and Gemini CLI's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptb_env.env import PostTrainEnv
from ptb_env.integrations.mcp_server import PROMPT_INTRO, SERVER_NAME

CLIS = {
    "opencode": "opencode-ai@1.18.33",
    "codex": "@openai/codex@0.171.0",
    "claude": "@anthropic-ai/claude-code@2.1.197",
}
"""The CLIs this script drives, and the npm package (version) it was tested with."""
OPENCODE_TOOLS = (
    "bash",
    "edit",
    "write",
    "read",
    "grep",
    "glob",
    "list",
    "patch",
    "multiedit",
    "webfetch",
    "websearch",
    "codesearch",
    "todowrite",
    "todoread",
    "task",
    "skill",
    "lsp",
    "question",
)
"""OpenCode's own tools, all turned off: the agent acts through the MCP server only."""
GRADE_MARK = "[grade]"


@dataclass(frozen=True)
class Args:
    cli: str = "opencode"
    """The coding-agent CLI: `opencode`, `codex` or `claude` (Claude Code)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """The model server (OpenCode: chat completions; Codex CLI: the Responses API; Claude Code:
    the Anthropic Messages API, at this URL without its `/v1`)."""
    model: str = "Qwen/Qwen3-8B"
    """Model name at the endpoint."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable that holds the endpoint's API key (unset: none is sent)."""
    task: str = "tiny-arith"
    """Task id (see `ptb-env list`)."""
    seed: int = 0
    budget: str = "compute"
    """`time` (wall clock) or `compute` (TFLOP: the same reward on any machine)."""
    sandbox: str = "bwrap"
    """The agent's shell inside the episode: `bwrap` or `none`."""
    binary: str = ""
    """The CLI's executable ("": `.node/node_modules/.bin/<cli>` of this repository, else PATH)."""
    timeout: float = 3600.0
    """Seconds the CLI may run."""
    run_dir: str = ""
    """Where the config, HOME and workspaces go ("": a temporary directory, removed at the end)."""


def find_cli(cli: str, given: str = "") -> str | None:
    """The CLI's executable: ``given``, this repository's ``.node`` install, or ``cli`` on PATH."""
    local = Path(__file__).resolve().parents[1] / ".node" / "node_modules" / ".bin" / cli
    for candidate in (given, str(local) if local.exists() else "", shutil.which(cli) or ""):
        if candidate:
            return candidate
    return None


def mcp_command(args: Args, workspace_root: Path) -> list[str]:
    """``ptb-env mcp`` for this episode (the interpreter running this script)."""
    return [
        sys.executable,
        "-m",
        "ptb_env.cli",
        "mcp",
        "--task",
        args.task,
        "--seed",
        str(args.seed),
        "--budget",
        args.budget,
        "--sandbox",
        args.sandbox,
        "--workspace-root",
        str(workspace_root),
    ]


def opencode_config(args: Args, workspace_root: Path) -> dict[str, Any]:
    """OpenCode's ``opencode.json``: the model server as a provider, ``ptb-env mcp`` the only tools."""
    options = {"baseURL": args.base_url, "apiKey": os.environ.get(args.api_key_env) or "EMPTY"}
    provider = {
        "npm": "@ai-sdk/openai-compatible",
        "name": "model server",
        "options": options,
        "models": {args.model: {"name": args.model, "tool_call": True}},
    }
    server = {
        "type": "local",
        "command": mcp_command(args, workspace_root),
        "enabled": True,
        "timeout": 600_000,
    }
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"local": provider},
        "model": f"local/{args.model}",
        "small_model": f"local/{args.model}",
        "mcp": {SERVER_NAME: server},
        "tools": dict.fromkeys(OPENCODE_TOOLS, False),
        "permission": {f"{SERVER_NAME}_*": "allow"},
        "autoupdate": False,
        "share": "disabled",
    }


def codex_config(args: Args, workspace_root: Path, env: dict[str, str]) -> str:
    """Codex CLI's ``config.toml``: the model server as a provider, ``ptb-env mcp`` the only tools
    (JSON strings and arrays are TOML too)."""
    command, *mcp_args = mcp_command(args, workspace_root)
    key = f"env_key = {json.dumps(args.api_key_env)}\n" if os.environ.get(args.api_key_env) else ""
    # Codex starts MCP servers with a minimal environment: pass ptb_env's own settings on
    ptb = ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(env.items()) if k.startswith("PTB_"))
    return f"""model = {json.dumps(args.model)}
model_provider = "local"
approval_policy = "never"
sandbox_mode = "read-only"
web_search = "disabled"
check_for_update_on_startup = false

[model_providers.local]
name = "model server"
base_url = {json.dumps(args.base_url)}
wire_api = "responses"
{key}
[features]
shell_tool = false
plugins = false
apps = false
multi_agent = false
goals = false

[analytics]
enabled = false

[mcp_servers.{SERVER_NAME}]
command = {json.dumps(command)}
args = {json.dumps(mcp_args)}
env = {{ {ptb} }}
required = true
default_tools_approval_mode = "approve"
startup_timeout_sec = 300
tool_timeout_sec = {int(args.timeout)}
"""


def prepare(args: Args, binary: str, run_dir: Path, prompt: str) -> tuple[list[str], dict[str, str], Path]:
    """The CLI's command line, environment and working directory, its config written under ``run_dir``."""
    project, home, workspaces = run_dir / "project", run_dir / "home", run_dir / "workspaces"
    project.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE", "XDG_", "CODEX_"))}
    env.setdefault("PTB_ENV_CACHE_DIR", str(Path.home() / ".cache" / "ptb_env"))  # the user's score cache
    env.update(HOME=str(home), PWD=str(project))  # OpenCode takes its project directory from $PWD
    if args.cli == "opencode":
        config = opencode_config(args, workspaces)
        (project / "opencode.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        for name, sub in (
            ("CONFIG", ".config"),
            ("DATA", ".local/share"),
            ("CACHE", ".cache"),
            ("STATE", ".local/state"),
        ):
            env[f"XDG_{name}_HOME"] = str(home / sub)
        for flag in ("MODELS_FETCH", "AUTOUPDATE", "DEFAULT_PLUGINS", "LSP_DOWNLOAD", "SHARE"):
            env[f"OPENCODE_DISABLE_{flag}"] = "1"
        return [binary, "run", "--pure", "--format", "json", "-m", config["model"], prompt], env, project
    if args.cli == "claude":
        for k in [k for k in env if k.startswith(("ANTHROPIC_", "CLAUDE_"))]:
            del env[k]
        mcp = {
            "mcpServers": {
                SERVER_NAME: {"command": sys.executable, "args": mcp_command(args, workspaces)[1:]}
            }
        }
        (project / "mcp.json").write_text(json.dumps(mcp, indent=2), encoding="utf-8")
        env.update(
            ANTHROPIC_BASE_URL=args.base_url.removesuffix("/").removesuffix("/v1"),
            ANTHROPIC_API_KEY=os.environ.get(args.api_key_env) or "EMPTY",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
            DISABLE_TELEMETRY="1",
            MCP_TIMEOUT="300000",  # ms for the MCP server to start (it loads torch; slow on a busy machine)
        )
        # no tool of Claude Code's own but WaitForMcpServers: -p starts before MCP servers connect
        flags = [
            "--mcp-config",
            str(project / "mcp.json"),
            "--strict-mcp-config",
            "--tools",
            "WaitForMcpServers",
            "--allowedTools",
            f"mcp__{SERVER_NAME}__*",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        return [binary, "-p", prompt, "--model", args.model, *flags], env, project
    codex_home = home / ".codex"
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(args, workspaces, env), encoding="utf-8")
    env["CODEX_HOME"] = str(codex_home)
    exec_args = ["exec", "--json", "--strict-config", "--skip-git-repo-check", "-C", str(project), prompt]
    return [binary, *exec_args], env, project


def tool_call(cli: str, event: dict[str, Any]) -> tuple[str, Any, str] | None:
    """``(tool, arguments, result text)`` of a finished tool call in the CLI's JSON event stream."""
    if cli == "opencode" and event.get("type") == "tool_use":
        part = event.get("part") or {}
        state = part.get("state") or {}
        return str(part.get("tool", "?")), state.get("input", {}), str(state.get("output", ""))
    if cli == "claude" and event.get("type") == "user":
        for block in _blocks(event):
            if block.get("type") == "tool_result":
                content = block.get("content")
                text = content if isinstance(content, str) else "\n".join(_text_blocks(content))
                return str(block.get("tool_use_id", "?")), {}, text
    item = event.get("item") or {}
    if cli == "codex" and event.get("type") == "item.completed" and item.get("type") == "mcp_tool_call":
        result = item.get("result") or {}
        text = "\n".join(c.get("text", "") for c in result.get("content") or [] if isinstance(c, dict))
        return (
            f"{item.get('server')}/{item.get('tool')}",
            item.get("arguments", {}),
            text or str(item.get("error")),
        )
    return None


def agent_text(cli: str, event: dict[str, Any]) -> str | None:
    """What the agent said, in the CLI's JSON event stream."""
    if cli == "opencode" and event.get("type") == "text":
        return str((event.get("part") or {}).get("text", ""))
    if cli == "claude" and event.get("type") == "assistant":
        said = []
        for b in _blocks(event):
            said.append(
                f"{b.get('name')} {json.dumps(b.get('input'))}"
                if b.get("type") == "tool_use"
                else b.get("text")
            )
        return " | ".join(str(x) for x in said)
    item = event.get("item") or {}
    if cli == "codex" and event.get("type") == "item.completed" and item.get("type") == "agent_message":
        return str(item.get("text", ""))
    return None


def play(args: Args, run_dir: Path) -> tuple[str | None, int]:
    """Run the CLI once; the grade line (``None``: the episode was not graded) and its exit code."""
    if args.cli not in CLIS:
        raise SystemExit(f"Expect --cli to be one of {sorted(CLIS)}, actually got {args.cli!r}.")
    binary = find_cli(args.cli, args.binary)
    if binary is None:
        raise SystemExit(
            f"{args.cli} not found: npm install --prefix .node {CLIS[args.cli]}, or pass --binary"
        )
    card = PostTrainEnv(args.task, budget=args.budget).task_card
    command, env, cwd = prepare(args, binary, run_dir, f"{PROMPT_INTRO}\n\n{card}")
    grade = None
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = _json(line)
            call, said = tool_call(args.cli, event), agent_text(args.cli, event)
            if call is not None:
                tool, arguments, output = call
                last = (output.strip().splitlines() or [""])[-1]
                print(f"{tool:24s} {json.dumps(arguments)[:60]:60s} -> {last[:80]}", flush=True)
                grade = grade_line(output) or grade
            elif said is not None:
                print(f"agent: {said.strip()[:200]}", flush=True)
        rc = proc.wait(timeout=args.timeout)
    return grade, rc


def _blocks(event: dict[str, Any]) -> list[dict[str, Any]]:
    content = (event.get("message") or {}).get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text_blocks(content: Any) -> list[str]:
    return [str(b.get("text", "")) for b in content or [] if isinstance(b, dict)]


def grade_line(output: str) -> str | None:
    """The grade in a tool result: its ``[grade]`` line, or one made from the structured content's
    ``grade`` (the form Codex CLI and Claude Code may show); ``None``: no grade."""
    for line in output.splitlines():
        if line.startswith(GRADE_MARK):
            return line
    data = _json(output[output.find("{") :]) if "{" in output else {}
    g = data.get("grade")
    if not isinstance(g, dict):
        return None
    reward, score, base = (float(g.get(k) or 0.0) for k in ("reward", "score", "base_score"))
    scores = f"test score {score:.4f} against the base model's {base:.4f}"
    return f"{GRADE_MARK} reward {reward:+.4f}: {scores}; status {g.get('status')}"


def _json(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def main(args: Args) -> int:
    if args.run_dir:
        grade, rc = play(args, Path(args.run_dir))
    else:
        with tempfile.TemporaryDirectory(prefix="ptb-cli-") as tmp:
            grade, rc = play(args, Path(tmp))
    if grade is None:
        print(f"no grade: the agent did not submit ({args.cli} exited with {rc})")
        return 1
    # "[grade] reward +0.0123: test score ... against the base model's ...; status ok"
    reward, rest = grade.removeprefix(GRADE_MARK).strip().removeprefix("reward ").split(":", 1)
    status = rest.rsplit("; status ", 1)[-1]
    print(f"reward {reward} (status {status}, {args.cli} exit {rc})")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    sys.exit(main(Args(**vars(p.parse_args()))))
