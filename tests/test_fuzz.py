"""Property-based fuzzing (hypothesis) of the action parser and of the file and shell tools.

The parser must turn any value into a verdict, never an exception; a real ``PostTrain-v0``
episode must answer any file or shell action with a valid observation and write nothing on the
host outside its own workspace.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ptb_env  # noqa: F401 - registers PostTrain-v0
from ptb_env.errors import SandboxUnavailable
from ptb_env.paths import PACKAGE_DIR
from ptb_env.sandbox import find_bwrap
from ptb_env.sandbox.driver import quote
from ptb_env.spaces import ToolCallSpace, check_args, check_call
from ptb_env.tools import default_tools

TOOLS = default_tools()
SCHEMAS = {name: t.parameters for name, t in TOOLS.items()}
SPACE = ToolCallSpace(SCHEMAS, {name: t.sample_args for name, t in TOOLS.items()})

# -- strategies -------------------------------------------------------------------------------
# Any character, lone surrogates included (the parser must refuse them, not crash on them).
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=50)
JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(ANY_TEXT, children, max_size=5),
    max_leaves=20,
)
_LARGE = {  # built on demand, so that a failing example stays readable
    "deep": lambda: "[" * 100_000 + "]" * 100_000,
    "bigint": lambda: "1" * 5000,
    "long": lambda: '{"tool": "' + "b" * 2_000_000 + '"}',
    "long args": lambda: json.dumps({"tool": "bash", "args": {"command": "x" * 1_000_001}}),
}
EDGE_TEXT = st.sampled_from(
    ["", "{}", "[]", "null", '{"tool": null}', '{"tool": "bash"}', '{"tool": "bash", "args": []}',
     "NaN", '{"tool": "bash", "args": {"command": "ls"}, "x": 1}', "\ufeff{}", '{"tool": "submit"}']
) | st.sampled_from(sorted(_LARGE)).map(lambda k: _LARGE[k]())  # fmt: skip


def _value_for(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a schema property's type, in and out of its bounds (mostly valid)."""
    kind = spec.get("type", "string")
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if kind == "string":
        return ANY_TEXT
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(lo, hi) | st.integers()
    if kind == "number":
        ints = st.integers(None if lo is None else math.ceil(lo), None if hi is None else math.floor(hi))
        return st.floats(lo, hi) | ints | st.floats()
    return JSON_LIKE


@st.composite
def tool_calls(draw: st.DrawFn) -> dict[str, Any]:
    """``{"tool": real name, "args": ...}`` with args that often fit the schema and often do not."""
    name = draw(st.sampled_from(sorted(SCHEMAS)))
    props: dict[str, Any] = SCHEMAS[name].get("properties", {})
    keys = st.sampled_from(sorted(props)) | ANY_TEXT if props else ANY_TEXT
    args = draw(
        st.fixed_dictionaries({}, optional={k: _value_for(v) | JSON_LIKE for k, v in props.items()})
        | st.dictionaries(keys, JSON_LIKE, max_size=4)
        | JSON_LIKE
    )
    call: dict[str, Any] = {"tool": name}
    if draw(st.integers(0, 9)):
        call["args"] = args
    return call


ACTIONS = st.one_of(
    JSON_LIKE,
    ANY_TEXT,
    EDGE_TEXT,
    st.binary(max_size=200),
    tool_calls(),
    tool_calls().map(lambda c: json.dumps(c, ensure_ascii=False, default=str)),
    tool_calls().map(lambda c: json.dumps(c, default=str).encode()),
)


# -- (a) the parser ---------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_check_call_never_raises_and_accepts_only_valid_calls(action):
    parsed, why = check_call(action, SCHEMAS)
    event("accepted" if parsed is not None else "rejected")  # see --hypothesis-show-statistics
    assert (parsed is None) == bool(why) and isinstance(why, str)
    assert SPACE.contains(action) == (parsed is not None)
    if parsed is not None:
        tool, args = parsed
        assert tool in SCHEMAS and check_args(tool, SCHEMAS[tool], args) is None
        assert check_call({"tool": tool, "args": args}, SCHEMAS) == (parsed, "")
        assert check_call(json.dumps({"tool": tool, "args": args}), SCHEMAS) == (parsed, "")
        assert SPACE.contains({"tool": tool, "args": args})


def test_sampled_actions_are_accepted():
    SPACE.seed(0)
    for _ in range(200):
        assert check_call(SPACE.sample(), SCHEMAS)[1] == ""


# -- (b) a real episode -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One ``PostTrain-v0`` episode for the whole module and a marker directory outside it."""
    try:
        find_bwrap()
    except SandboxUnavailable as err:
        pytest.skip(f"bubblewrap cannot run here: {err}")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "marker").write_text("MARKER")
    root = tmp_path_factory.mktemp("fuzz-ws")
    # tiny-facts: its base score (computed at the first reset) takes seconds, tiny-arith's a minute or more
    env = gym.make("PostTrain-v0", task="tiny-facts", workspace_root=root, time_limit_s=60, max_steps=10_000)
    env.reset(seed=0)
    yield {"env": env, "outside": outside, "root": root}
    env.close()


_ODD_NAMES = [
    ".", "..", "~", "-", "--", "-rf", "*", "$(id)", "`id`", "$(touch pwned)", "$HOME", "a b", "a\nb",
    "'", '"', "\\", "\x00", "\t", "λ中🙂", ".jobs", "final_model", "TASK.md", "base_model", "data",
]  # fmt: skip
_COMPONENTS = st.one_of(
    st.text(ANY_CHAR, min_size=1, max_size=12),
    st.sampled_from(_ODD_NAMES),
    st.integers(256, 5000).map(lambda n: "n" * n),  # longer than NAME_MAX
)


_KNOWN = st.sampled_from(
    ["TASK.md", "/workspace/TASK.md", "base_model/config.json", "final_model", "fifo", ".jobs/1.log", "/",
     "/dev/zero", "/dev/full", "/dev/shm/x", "/proc/self/environ", "/proc/1/cmdline", "/run/ptb/budget",
     "/run/ptb-shell/state", "/etc/passwd", "/tmp/x", "../TASK.md", "~/TASK.md"]
)  # fmt: skip


@st.composite
def paths(draw: st.DrawFn, host_dirs: list[str]) -> str:
    """Relative, sandbox-absolute and host-absolute paths, with ``..``, quotes and unicode."""
    rel = "/".join(draw(st.lists(_COMPONENTS, min_size=1, max_size=5)))
    prefix = draw(
        st.sampled_from(["", "", "../", "../../../", "/", "/workspace/", "/workspace/../", "/tmp/", "/run/"])
        | st.sampled_from(host_dirs).map(lambda d: d + "/")
    )
    roll = draw(st.integers(0, 19))
    if roll == 0:
        return "a/" * draw(st.integers(100, 3000)) + rel  # deeper than PATH_MAX
    if roll <= 3:
        return draw(_KNOWN)
    return prefix + rel


_TEXTS = st.text(ANY_CHAR.filter(lambda c: c != "\x00"), max_size=300) | st.sampled_from(
    ["$(id)", "`touch pwned`", "'\"'\"'", "\\", "\n\n", "EOF\n", "%s %n", "\r\n", "a" * 20_000]
)
_SNIPPETS = st.sampled_from(
    ["exit", "exit 7", "exec >/dev/null", "exec 2>&-", "kill -9 $$", "kill -9 -1", "cd /", "cd ..",
     "printf '\\n__PTB_END_x__ 0 0\\n'", "trap - EXIT; exit", "cat <<EOF", "set -e; false", "read x",
     "yes | head -c 100000", "head -c 30000 /dev/urandom", "printf '\\x00\\xff\\xfe'", "ulimit -f 0",
     "export PWD=/", "sleep 0.1 &", "(sleep 30 &)", "ls -la", "timer"]
)  # fmt: skip


_TEMPLATES = [
    "echo {t} > {p}", "printf %s {t} >> {p}", "mkdir -p {p}", "touch {p}", "cd {p}", "cat {p}",
    "ln -s {p} {p2}", "cp TASK.md {p}", "mkfifo {p}", "rm -f fifo; mkfifo fifo", "ls {p}",
    "mkdir -p {p} && cd {p} && echo {t} > {p2}",
    "python -c 'import sys; open(sys.argv[1], \"w\").write(sys.argv[2])' {p} {t}",
]  # fmt: skip


@st.composite
def episode_actions(draw: st.DrawFn, host_dirs: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A file or shell action and the paths it names."""
    p, p2 = draw(paths(host_dirs)), draw(paths(host_dirs))
    q = draw(st.sampled_from([quote, lambda s: s, lambda s: f'"{s}"']))
    kind = draw(st.sampled_from(["write", "read", "bash", "bash", "raw"]))
    if kind == "write":
        args = {"path": p, "content": draw(_TEXTS)}
        if draw(st.booleans()):
            args["append"] = draw(st.booleans())
        return {"tool": "write_file", "args": args}, [p]
    if kind == "read":
        args = {"path": p}
        if draw(st.booleans()):
            args["offset"] = draw(st.integers(0, 2**50))
        if draw(st.booleans()):
            args["max_chars"] = draw(st.integers(1, 10_000))
        return {"tool": "read_file", "args": args}, [p]
    if kind == "raw":
        command = draw(_SNIPPETS | st.text(ANY_CHAR.filter(lambda c: c != "\x00"), max_size=200))
        return {"tool": "bash", "args": {"command": command, "timeout": 5}}, []
    template = draw(st.sampled_from(_TEMPLATES))
    command = template.format(p=q(p), p2=q(p2), t=q(draw(_TEXTS)))
    return {"tool": "bash", "args": {"command": command, "timeout": 5}}, [p, p2]


def _leak_candidates(named: list[str], ws: Path) -> set[Path]:
    """Host paths (outside the workspace) where the named paths would land if the sandbox leaked."""
    out: set[Path] = set()
    for p in named:
        p = p.replace("\x00", "")
        tails = [p] if p.startswith("/") else [f"{ws}/{p}", f"/{p}", f"/tmp/{p}"]
        for t in tails:
            n = Path(os.path.normpath(t))
            if not (n == ws or n.is_relative_to(ws)) and n != Path("/"):
                out.add(n)
    return out


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {e.name: (e.stat(follow_symlinks=False).st_size, e.stat(follow_symlinks=False).st_mtime_ns)
            for e in os.scandir(d)}  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_file_and_shell_actions_never_escape_or_break_the_env(fuzz_env, data):
    env, outside, root = fuzz_env["env"], fuzz_env["outside"], fuzz_env["root"]
    base = env.unwrapped
    model = Path(base.task.base_model)
    host_dirs = [str(outside), f"{outside}/marker", str(root), str(PACKAGE_DIR), str(model), str(Path.home())]
    model_before = _snapshot(model)
    for _ in range(data.draw(st.integers(1, 3), label="steps")):
        ws = base.workspace.root
        action, named = data.draw(episode_actions(host_dirs), label="action")
        candidates = {c for c in _leak_candidates(named, ws) if not os.path.lexists(c)}
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs), obs
        event(f"{action['tool']}: {'error' if obs['error'] else 'ok'}")
        leaked = sorted(str(c) for c in candidates if os.path.lexists(c))
        assert not leaked, f"{action!r} wrote on the host: {leaked}"
        assert sorted(os.listdir(outside)) == ["marker"] and (outside / "marker").read_text() == "MARKER"
        assert set(os.listdir(root)) <= {ws.name, f"{ws.name}.ctl", f"{ws.name}.owner"}
        assert _snapshot(model) == model_before
        if terminated or truncated:
            assert isinstance(reward, float) and "status" in info
            env.reset()
