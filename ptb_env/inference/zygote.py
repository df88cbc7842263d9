"""The jail's zygote: imports torch once, then forks one confined child per jailed generation.

Run as ``python -m ptb_env.inference.zygote [WARM_MODEL_DIR]`` by :mod:`ptb_env.inference.jail`,
which documents the threat model. Protocol: one JSON request per line on stdin; per
request the zygote answers ``{"pid": N}`` when the child is forked, then
``{"status", "timed_out", "result"}`` when it has ended (``status``: its exit code, or
minus the signal that killed it; ``result``: what the child wrote back, or ``null``).
The protocol runs over a copy of the original stdout; fd 1 itself points at stderr, so
that nothing a library prints can break it.

The zygote never runs a torch operation: its children start with a fresh OpenMP state
(a child forked from a process that ran torch deadlocks in GNU OpenMP's first parallel
region) and may use several threads.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

IDLE_EXIT_S = 600.0
"""The zygote exits after this long without a request (it holds torch: ~0.4 GB)."""
AS_SLACK_BYTES = 512 << 20
"""Address space granted above ``memory_bytes`` (thread stacks and malloc arenas are reserved, not used)."""
MAX_RESULT_BYTES = 256 << 20
"""Largest reply a child may send (completions are bounded by the token limit)."""
MAX_ERROR_CHARS = 2000


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _vm_size_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) << 10
    return 0


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _confine(limits: dict[str, Any]) -> None:
    """Put this child under its limits, before it reads anything of the checkpoint."""
    os.setsid()  # its own process group: the zygote kills the whole group
    _die_with_parent()
    for procs in limits["cgroup_procs"]:
        Path(procs).write_text(str(os.getpid()))
    if limits["address_space"]:
        cap = _vm_size_bytes() + int(limits["memory_bytes"]) + AS_SLACK_BYTES
        for inherited in resource.getrlimit(resource.RLIMIT_AS):  # never above what we inherited
            cap = cap if inherited == resource.RLIM_INFINITY else min(cap, inherited)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    threads = limits["threads"] or os.cpu_count() or 1
    cpu_s = int(float(limits["timeout_s"]) * threads) + 60
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    if limits["threads"]:
        import torch

        torch.set_num_threads(int(limits["threads"]))


def _child(request: dict[str, Any], out: int) -> int:
    """Load the checkpoint, generate, write the reply to ``out``; returns the exit status."""
    try:
        _confine(request["limits"])
        from ptb_env.inference import transformers_backend as tb

        t0 = time.perf_counter()
        model, tokenizer = tb.load(request["model_dir"], chat_template=request["chat_template"])
        t1 = time.perf_counter()
        s = request["settings"]
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in s.items()}
        settings = tb.GenerationSettings(**fields)
        completions = tb.generate(model, tokenizer, request["prompts"], settings, progress=False)
        reply: dict[str, Any] = {
            "completions": completions, "load_s": t1 - t0, "generate_s": time.perf_counter() - t1,
            "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }  # fmt: skip
        status = 0
    except BaseException as err:  # noqa: BLE001 - everything goes back to the env as data
        reply, status = {"error": f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]}, 1
    try:
        view = memoryview(json.dumps(reply).encode())
        while view:
            view = view[os.write(out, view) :]
    except BaseException:  # noqa: BLE001 - out of memory even here: the status says it failed
        return 3
    return status


def _serve_one(
    request: dict[str, Any], stdin_fd: int, pending: bytearray, proto: IO[str]
) -> tuple[dict[str, Any], bool]:
    """Fork a child for ``request``, relay its reply, enforce its time limit; returns (reply, eof).

    Bytes that arrive on stdin meanwhile are kept in ``pending``; its end kills the child.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(r)
            proto.close()
            code = _child(request, w)
        finally:
            os._exit(code)
    os.close(w)
    _send(proto, {"pid": pid})
    deadline = time.monotonic() + float(request["limits"]["timeout_s"])
    data, overflow, timed_out, eof, status = bytearray(), False, False, False, None
    open_fds = [r, stdin_fd]

    def keep(chunk: bytes) -> None:
        nonlocal data, overflow
        if not overflow and len(data) + len(chunk) > MAX_RESULT_BYTES:
            overflow, data = True, bytearray()
            _kill_group(pid)
        elif not overflow:
            data += chunk

    while status is None:
        ready = select.select(open_fds, [], [], 0.05)[0]
        if r in ready:
            chunk = os.read(r, 1 << 20)
            if chunk:
                keep(chunk)
            else:
                open_fds.remove(r)
        if stdin_fd in ready:
            chunk = os.read(stdin_fd, 1 << 16)
            pending += chunk
            if not chunk:  # the env process is gone
                eof = True
                _kill_group(pid)
                open_fds.remove(stdin_fd)
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            _kill_group(pid)
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(wait_status)
            _kill_group(pid)  # anything the child left in its group
    while r in open_fds and (chunk := os.read(r, 1 << 20)):
        keep(chunk)
    os.close(r)
    try:
        result = json.loads(data) if data else None
    except ValueError:
        result = None
    return {"status": status, "timed_out": timed_out, "result": result}, eof


def _send(proto: IO[str], message: dict[str, Any]) -> None:
    proto.write(json.dumps(message) + "\n")
    proto.flush()


def main(warm: str | None) -> int:
    """Import torch and transformers, then serve one request per stdin line until stdin ends."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what libraries print goes to the log, never into the protocol
    import torch  # noqa: F401 - imported once here, shared by every forked child
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401
    from transformers.utils import logging as hf_logging

    import ptb_env.inference.transformers_backend  # noqa: F401

    hf_logging.disable_progress_bar()
    if warm:  # import the (trusted) base model's class: children would each import it otherwise
        try:
            config = AutoConfig.from_pretrained(warm, trust_remote_code=False)
            AutoModelForCausalLM._model_mapping[type(config)]
        except Exception as err:  # noqa: BLE001 - warming is an optimisation
            print(f"zygote: could not warm {warm}: {err!r}", file=sys.stderr)
    _send(proto, {"ready": True})
    fd, buf = sys.stdin.fileno(), bytearray()
    while True:
        if b"\n" not in buf:
            if not select.select([fd], [], [], IDLE_EXIT_S)[0]:
                return 0  # idle: the env side starts a new zygote when it needs one
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return 0
            buf += chunk
            continue
        i = buf.index(b"\n")
        line, buf = bytes(buf[:i]), buf[i + 1 :]
        reply, eof = _serve_one(json.loads(line), fd, buf, proto)
        if eof:
            return 0
        _send(proto, reply)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
