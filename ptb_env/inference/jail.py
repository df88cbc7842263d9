"""The jail: generation with an untrusted checkpoint in a child process with memory, CPU and time limits.

Threat model. An agent's checkpoint is data, never code (safetensors only, no remote
code: ``ptb_env.integrity.checkpoint``), but data can still make the *loader* or the
*forward pass* allocate without bound or run for ever: a ``config.json`` whose RoPE
tables take 23 GB, a generation that never stops. The config allow-list rejects every
such key we know of; the jail bounds what it misses. Generation runs in a child with

- an address-space limit (``RLIMIT_AS``: what it had at fork plus ``memory_bytes``) and,
  where the caller made one, a memory cgroup (``memory_bytes`` of new memory) with a
  CPU quota: an allocation past the limit fails or the kernel kills the child, never
  the env process or a neighbour on the machine;
- a wall-clock limit (``timeout_s``, model loading included) after which its process
  group is killed, a CPU-time limit as a backstop, and death with its parent;
- as many torch threads as the caller's.

Not covered: the child runs with the env process's identity and file access (it runs
only our code on a host-side copy of the checkpoint, not the agent's programs); the GPU.

How. Importing torch and transformers costs seconds, so a small server, the zygote
(:mod:`ptb_env.inference.zygote`), imports them once per env process and forks one
child per generation. The zygote never runs a torch operation, so its children start
with a fresh OpenMP state and may use several threads (a child forked from a process
that ran torch deadlocks in GNU OpenMP). Requests and replies are JSON lines over the
zygote's stdin and stdout; a child's completions come back to the zygote over a pipe.
The zygote exits when the env process goes away (end of its stdin) or after
``zygote.IDLE_EXIT_S`` without a request; the next request starts a new one.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from ptb_env.errors import JailError

Messages = Sequence[dict[str, str]]

STARTUP_TIMEOUT_S = 300.0
"""Longest wait for a new zygote to import torch and transformers."""
LOG_TAIL_CHARS = 2000
BASE_MEMORY_BYTES = 1 << 30
"""Memory of a jailed child on top of the model (activations, KV cache, tokenizer, runtime)."""
WEIGHT_MEMORY_FACTOR = 4
"""A jailed child may use this many times the model's float32 weights on top of ``BASE_MEMORY_BYTES``."""
MIN_TIMEOUT_S = 120.0
TIMEOUT_FACTOR = 20.0
DEFAULT_ITEM_S = 1.0
"""Seconds per item assumed when the base model's speed is unknown."""
_MEMORY_WORDS = ("MemoryError", "can't allocate memory", "bad_alloc", "out of memory", "Cannot allocate")


@dataclass(frozen=True)
class JailLimits:
    """The limits of one jailed generation.

    Attributes:
        memory_bytes: new memory the child may use (the cgroup's limit; its address space
            may grow by this plus ``zygote.AS_SLACK_BYTES`` over what it had at fork).
        timeout_s: wall-clock limit of the child (model loading included).
        threads: torch threads of the child (``None``: torch's default).
        cgroup_procs: ``cgroup.procs`` files the child moves itself into first (the caller
            creates the cgroup, with its memory limit and CPU quota, and removes it after).
        warm: a trusted model directory whose model class the zygote imports ahead, so
            children do not import it each time.
        address_space: also limit the address space (``RLIMIT_AS``); off leaves memory to
            the cgroup alone (for CUDA, which reserves far more address space than it uses).
    """

    memory_bytes: int
    timeout_s: float
    threads: int | None = None
    cgroup_procs: tuple[str, ...] = ()
    warm: str | None = None
    address_space: bool = True

    def __post_init__(self) -> None:
        if self.memory_bytes <= 0:
            raise ValueError(f"Expect `memory_bytes` > 0, actually: {self.memory_bytes}.")
        if self.timeout_s <= 0:
            raise ValueError(f"Expect `timeout_s` > 0, actually: {self.timeout_s}.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"Expect `threads` >= 1 or None, actually: {self.threads}.")


@dataclass(frozen=True)
class JailConfig:
    """How large a task's jail is; the grader derives each evaluation's :class:`JailLimits` from it.

    >>> JailConfig().limits(base_params=2_000_000, items=100, item_s=0.05).timeout_s
    220.0
    """

    memory_bytes: int | None = None
    """New memory of the child; ``None``: ``BASE_MEMORY_BYTES`` plus ``WEIGHT_MEMORY_FACTOR`` times the
    base model's weights as float32 (the transformers backend computes in float32)."""
    timeout_s: float | None = None
    """Wall-clock limit of one evaluation; ``None``: ``MIN_TIMEOUT_S`` plus ``TIMEOUT_FACTOR`` times
    the base model's seconds for as many items (a checkpoint of the same architecture is as fast
    per token; the factor covers one that never stops where the base model does)."""

    def limits(
        self, *, base_params: int, items: int, item_s: float | None, threads: int | None = None
    ) -> JailLimits:
        """The limits of one evaluation of ``items`` items.

        Args:
            base_params: parameters of the base model.
            items: items to generate for.
            item_s: the base model's seconds per item (``None``: unknown, ``DEFAULT_ITEM_S``).
            threads: torch threads of the child (the caller's).
        """
        memory = self.memory_bytes or BASE_MEMORY_BYTES + WEIGHT_MEMORY_FACTOR * 4 * base_params
        per_item = DEFAULT_ITEM_S if item_s is None else item_s
        timeout = self.timeout_s or MIN_TIMEOUT_S + TIMEOUT_FACTOR * per_item * items
        return JailLimits(memory_bytes=int(memory), timeout_s=float(timeout), threads=threads)


@dataclass(frozen=True)
class JailedGeneration:
    """Completions of one jailed generation and where the time went.

    Attributes:
        completions: one completion per prompt, in prompt order.
        load_s: model loading inside the child.
        generate_s: generation inside the child.
        overhead_s: the rest of the call: zygote start (first call), fork, reply.
        max_rss_bytes: the child's peak resident memory.
    """

    completions: list[str]
    load_s: float
    generate_s: float
    overhead_s: float
    max_rss_bytes: int


def generate(
    model_dir: str | Path,
    prompts: Sequence[Messages],
    settings: Any,
    limits: JailLimits,
    *,
    chat_template: str | None = None,
) -> JailedGeneration:
    """Greedy completions of ``prompts`` by the checkpoint in ``model_dir``, generated in a jailed child.

    The child runs ``transformers_backend.load`` and ``transformers_backend.generate``, so
    completions equal those of the in-process transformers backend with as many threads.

    Args:
        model_dir: HF model directory (safetensors; loaded without remote code).
        prompts: chat prompts.
        settings: a ``transformers_backend.GenerationSettings``.
        limits: the child's limits.
        chat_template: template to use instead of the checkpoint's own.

    Raises:
        JailError: The child ran out of memory or time, or failed (``kind`` says which), or
            the zygote could not start (``kind="infra"``).
    """
    t0 = time.perf_counter()
    request = {
        "model_dir": str(Path(model_dir).resolve()),
        "prompts": [list(m) for m in prompts],
        "settings": asdict(settings),
        "chat_template": chat_template,
        "limits": asdict(limits),
    }
    try:
        reply = _zygote(limits.warm).run(request, limits.timeout_s)
    except _NotTaken:  # the zygote had just exited (idle): one more try with a new one
        shutdown()
        reply = _zygote(limits.warm).run(request, limits.timeout_s)
    result = reply.get("result") or {}
    status, timed_out = int(reply.get("status", 0)), bool(reply.get("timed_out"))
    mib = limits.memory_bytes >> 20
    if timed_out:
        raise JailError(
            f"exceeded the time limit of {limits.timeout_s:g} s (loading and generation); the "
            "evaluation was killed.", kind="timeout",
        )  # fmt: skip
    if "completions" in result and status == 0:
        rss = int(result.get("max_rss_kb", 0)) << 10
        load_s, gen_s = float(result["load_s"]), float(result["generate_s"])
        overhead = time.perf_counter() - t0 - load_s - gen_s
        return JailedGeneration(list(map(str, result["completions"])), load_s, gen_s, overhead, rss)
    error = str(result.get("error", ""))
    if status == -signal.SIGXCPU:
        raise JailError(f"exceeded the CPU-time limit ({limits.timeout_s:g} s per thread).", kind="timeout")
    if status == -signal.SIGKILL or any(w in error for w in _MEMORY_WORDS):
        how = f": {error}" if error else " (killed by the out-of-memory killer)"
        raise JailError(f"exceeded the memory limit of {mib} MiB{how}", kind="memory")
    how = f"exited with status {status}" if status >= 0 else f"was killed by signal {-status}"
    raise JailError(
        f"the evaluation failed: {error or how}" + (f"\n{reply.get('log', '')}" if not error else ""),
        kind="crash",
    )


# --- the env side: one zygote per process -----------------------------------------------------


class _NotTaken(JailError):
    """The zygote was gone before it took the request (nothing ran)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="infra")


class _Zygote:
    """The env side of one zygote process: start it, send a request, wait for its reply."""

    def __init__(self, warm: str | None) -> None:
        self.pid_owner = os.getpid()
        self.lock = threading.Lock()
        self.log = tempfile.TemporaryFile(prefix="ptb-jail-")
        # idle OpenMP threads sleep, not spin: a busy neighbour costs its share of the CPUs only
        env = {
            "OMP_WAIT_POLICY": "PASSIVE",
            **os.environ,
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }
        cmd = [sys.executable, "-m", "ptb_env.inference.zygote", *([warm] if warm else [])]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        self.buf = b""
        if self._line(time.monotonic() + STARTUP_TIMEOUT_S).get("ready") is not True:
            self.close()
            raise JailError(f"The jail's zygote did not start: {self.log_tail()}", kind="infra")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        """The end of the zygote's and its children's stderr."""
        if self.log.closed:
            return ""
        self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, self.log.tell() - LOG_TAIL_CHARS))
        return self.log.read().decode("utf-8", "replace")

    def _line(self, deadline: float) -> dict[str, Any]:
        """The next JSON line from the zygote; ``{}`` at its end or at ``deadline``."""
        fd = self.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return {}
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return {}
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        try:
            out = json.loads(line)
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}

    def run(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and return the zygote's reply (``status``, ``timed_out``, ``result``).

        Raises:
            JailError: ``kind="infra"``: the zygote died or stopped answering.
        """
        with self.lock:
            try:
                self.stdin.write(json.dumps(request).encode() + b"\n")
                self.stdin.flush()
            except OSError:
                raise _NotTaken("The jail's zygote is gone.") from None
            try:
                if "pid" not in self._line(time.monotonic() + 60):
                    raise _NotTaken(f"The jail's zygote did not take the request: {self.log_tail()}")
                reply = self._line(time.monotonic() + timeout_s + 60)  # the zygote enforces timeout_s
                if "status" not in reply:
                    raise JailError(f"The jail's zygote stopped answering: {self.log_tail()}", kind="infra")
            except BaseException:  # the protocol stopped mid-request (also on KeyboardInterrupt)
                self.close()
                raise
            if reply["status"] != 0:
                reply["log"] = self.log_tail()
            return reply

    def close(self) -> None:
        """End the zygote (it kills a running child) and wait for it."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc.pid)
            self.proc.wait()
        self.log.close()


_ZYGOTE: _Zygote | None = None
_ZYGOTE_LOCK = threading.Lock()


def _zygote(warm: str | None) -> _Zygote:
    """This process's zygote, started when there is none (or it exited, or we are a fork)."""
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        z = _ZYGOTE
        if z is None or z.pid_owner != os.getpid() or not z.alive():
            if z is not None and z.pid_owner == os.getpid():
                z.close()
            _ZYGOTE = z = _Zygote(warm)
        return z


def shutdown() -> None:
    """Stop this process's zygote, if any (a later jailed generation starts a new one)."""
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is not None and _ZYGOTE.pid_owner == os.getpid():
            _ZYGOTE.close()
        _ZYGOTE = None


atexit.register(shutdown)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
