"""The driver: the bash script that runs inside the sandbox, its environment, call results.

The driver reads commands from its stdin. ``__ptb_call CMD`` runs ``CMD`` in a
subshell of its own process group (``set -m``), stdin from ``/dev/null``,
stderr merged into stdout; on SIGUSR1 (sent by the host at the timeout) it
kills that group. The subshell writes its exported variables, the ones it
unset, and its working directory to a state file on exit, which the driver
sources: that is how ``cd`` and ``export`` persist with one fork per call.
``__ptb_job``, ``__ptb_jstat`` and ``__ptb_jkill`` serve the background jobs; they leave
their result in ``__ptb_res``, which the end-of-call line carries to the host.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ptb_env.cpus import available_cpus, thread_env
from ptb_env.sandbox.config import SandboxConfig

DRIVER_INIT = r"""
set -m
exec 2>/dev/null
__ptb_pid=''
__ptb_to=0
__ptb_rc=0
__ptb_res=''
__ptb_old=( $(compgen -e) )
trap '__ptb_to=1; [ -n "$__ptb_pid" ] && kill -KILL -- "-$__ptb_pid"' USR1
__ptb_save() {
  set -o posix
  {
    for __ptb_v in "${__ptb_old[@]}"; do [[ ${!__ptb_v@a} == *x* ]] || echo "unset $__ptb_v"; done
    export -p
    echo '__ptb_old=('; compgen -e; echo ')'
    printf 'cd -- %q\n' "$PWD"
  } >"$__ptb_sf" 2>/dev/null
}
__ptb_call() {
  __ptb_to=0; : >"$__ptb_sf"
  ( trap __ptb_save EXIT; __ptb_c=$1; set --; eval "$__ptb_c" ) </dev/null 2>&1 &
  __ptb_pid=$!
  while :; do wait "$__ptb_pid"; __ptb_rc=$?; kill -0 "$__ptb_pid" || break; done
  __ptb_pid=''
  if [ -s "$__ptb_sf" ]; then . "$__ptb_sf"; export SHLVL=1; fi
}
__ptb_job() {
  ( trap - EXIT; __ptb_c=$2; set --; eval "$__ptb_c" ) </dev/null >"$1" 2>&1 &
  __ptb_res=$!
}
__ptb_jstat() {
  local __ptb_r=''
  for p; do
    if kill -0 "$p"; then __ptb_r+="$p=running,"; else wait "$p"; __ptb_r+="$p=exited:$?,"; fi
  done
  __ptb_res=$__ptb_r
}
__ptb_jkill() { kill -KILL -- "-$1"; wait "$1"; __ptb_res="$1=exited:$?"; }
"""


@dataclass(frozen=True)
class ShellResult:
    """What one shell call produced.

    Attributes:
        output: stdout and stderr interleaved, head and tail kept (see ``OUTPUT_LIMIT``).
        exit_code: The command's exit status (``None`` when it did not finish).
        timed_out: The call hit its timeout and its process group was killed.
        duration_s: Wall-clock seconds of the call.
        notes: Messages from the machinery (restart, limits), for the agent.
    """

    output: str
    exit_code: int | None
    timed_out: bool
    duration_s: float
    notes: tuple[str, ...] = ()

    def render(self) -> str:
        """The text an agent sees: notes, output, and how the call ended."""
        parts = [f"[{n}]" for n in self.notes if n.startswith("shell restarted")]
        parts.append(self.output)
        parts += [f"[{n}]" for n in self.notes if not n.startswith("shell restarted")]
        if self.timed_out:
            parts.append(f"[timed out after {self.duration_s:.1f} s: the command's process group was killed]")
        elif self.exit_code is not None:
            parts.append(f"[exit code: {self.exit_code}]")
        return "\n".join(p for p in parts if p)


def sandbox_env(config: SandboxConfig, ws: str, ctl: str, sandbox_id: str) -> dict[str, str]:
    """The agent's environment, from scratch (no host variable unless passed through)."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        "PATH": f"{ctl}/bin:{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": ws, "USER": "agent", "LOGNAME": "agent", "SHELL": "/bin/bash",
        "LANG": "C.UTF-8", "TERM": "dumb", "TMPDIR": "/tmp", "PAGER": "cat", "GIT_PAGER": "cat",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PIP_NO_INPUT": "1",
        "HF_HOME": f"{ws}/.cache/huggingface", "PTB_WORKSPACE": ws, "PTB_SANDBOX_ID": sandbox_id,
    }  # fmt: skip
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    if not config.network:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    # thread pools sized to the sandbox's quota, else to the CPUs this process may use (affinity,
    # cgroup quota), never to the host's core count; idle OpenMP threads sleep, not spin
    env.update(thread_env(math.ceil(config.cpus) if config.cpus is not None else available_cpus()))
    env.update({k: os.environ[k] for k in config.pass_env if k in os.environ})
    env.update(config.env)
    return env


def quote(s: str) -> str:
    """Single-quote ``s`` for bash (works across newlines)."""
    return "'" + s.replace("'", "'\\''") + "'"
