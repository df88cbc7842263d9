"""The compute budget: an opt-in episode budget in TFLOP, the same on every machine and load.

The default budget is wall-clock time, as in PostTrainBench. A time-driven agent then gets a
reward that depends on the machine and on what else runs on it, which RL cannot tell from the
policy. ``gym.make(..., budget="compute")`` gives the episode ``compute_left`` TFLOP instead
(the task's ``compute_tflop``, or the env's argument), charged by the env:

- ``train``: ``6 x parameters x batch_size x max_length`` per optimizer step, for the steps the
  job will run, plus a start fee (:data:`JOB_START_CPU_S` CPU seconds' worth), when it starts.
  The tool passes those steps to the job (``max_steps``) with no time limit, so the job trains
  exactly what it paid for on any machine. The charge bounds the job's real compute from above
  (no example is longer than ``max_length``; the trainer pads to the batch's longest). In this
  mode ``max_length`` defaults to the longest of the data's first :data:`SAMPLE_EXAMPLES`
  examples, so a job pays for the length its data needs. Nothing is refunded when a job is killed.
  The job runs from ``/`` in the shell's initial environment (``env -i``), so nothing the agent
  exported or wrote (``PYTHONPATH``, ``LD_PRELOAD``, a ``ptb_env`` folder in its working
  directory) runs inside the CPU time the job is credited with.
- ``evaluate``: ``2 x parameters x`` :data:`EVAL_TOKENS_PER_ITEM` per item scored.
- the agent's own processes (shell commands, its jobs): their CPU seconds x
  :data:`CPU_SECOND_TFLOP`, from the episode's cgroup (exact), else its process tree (sampled),
  less the CPU time of ``train`` jobs, which their TFLOP paid for. A train job is credited at most
  :data:`TRAIN_CPU_CREDIT` times its TFLOP's worth of CPU time, so that a job whose process id
  a tampered shell misreports cannot hide the agent's own work.

The wall clock still runs, as a safety net: :data:`WALL_CLOCK_FACTOR` times the task's time
limit. An episode it ends says so (``info["truncated_by"]``); its reward then depends on the
machine again. While a paid training job runs, an empty ledger does not end the episode (the
agent may wait for it) unless the agent's own processes overdraw it by more than
:data:`OVERDRAW_SHARE` of the budget: a watchdog samples their CPU time every
:data:`SAMPLE_INTERVAL_S` and then kills every process of the episode, which ends.

Parameters are counted from the base model's safetensors header (the task's model, whatever
checkpoint a job starts from).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptb_env.budget import Compute

if TYPE_CHECKING:
    from ptb_env.sandbox import Sandbox
    from ptb_env.sandbox.jobs import Job

CPU_SECOND_TFLOP = 0.02
"""TFLOP charged per CPU second of the agent's own processes: about what the ``train`` tool does
per CPU second with the tiny model on a 2-core machine, so an agent's own training loop costs
about what the tool's does."""
TINY_TFLOP_PER_S = 0.04
"""The tiny tasks' compute budget per second of their time limit (``compute_tflop``): about what
the ``train`` tool does per second on 2 CPU cores, so both budgets buy about the same run."""
EVAL_TOKENS_PER_ITEM = 256
"""Tokens an ``evaluate`` item is charged for (prompt and generated answer)."""
SAMPLE_EXAMPLES = 4096
"""Examples of a data snapshot read to size ``max_length`` (at most :data:`SAMPLE_BYTES`)."""
SAMPLE_BYTES = 4 << 20
"""Bytes of a data snapshot read to size ``max_length``."""
JOB_START_CPU_S = 10.0
"""CPU seconds' worth (at :data:`CPU_SECOND_TFLOP`) a ``train`` job is charged to start: Python,
torch and the model load, and the save at its end."""
TRAIN_CPU_CREDIT = 4.0
"""Most CPU time a train job is credited with, in multiples of its TFLOP's worth."""
WALL_CLOCK_FACTOR = 4.0
"""The safety wall clock of the compute budget, in multiples of the task's time limit."""
OVERDRAW_SHARE = 0.02
"""How far the agent's own processes may overdraw the budget while a paid job runs."""
SAMPLE_INTERVAL_S = 0.5
"""Seconds between samples of the running train jobs' CPU time."""


def count_parameters(model_dir: Path) -> int:
    """Parameters of the safetensors weights in ``model_dir`` (their headers only)."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"No safetensors weights in {model_dir}")
    total = 0
    for f in files:
        with safe_open(f, framework="numpy") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open is not a mapping
                total += math.prod(st.get_slice(key).get_shape())
    return total


def train_step_tflop(params: int, batch_size: int, max_length: int) -> float:
    """TFLOP one optimizer step of ``batch_size`` examples of ``max_length`` tokens is charged."""
    return 6.0 * params * batch_size * max_length / 1e12


def job_start_tflop() -> float:
    """TFLOP a ``train`` job is charged to start (besides its steps)."""
    return JOB_START_CPU_S * CPU_SECOND_TFLOP


def eval_tflop(params: int, items: int) -> float:
    """TFLOP an ``evaluate`` of ``items`` items is charged."""
    return 2.0 * params * EVAL_TOKENS_PER_ITEM * items / 1e12


def budget_note(params: int, dev_limit: int) -> str:
    """How the compute budget is charged, for the task card."""
    return (
        f"`train` {train_step_tflop(params, 1, 1) * 1e6:.3g} TFLOP per million example-tokens "
        f"(6 x {params:,} parameters x batch_size x max_length per step, for the steps it will run, "
        f"plus {job_start_tflop():.3g} TFLOP to start, charged when it starts; max_length defaults to "
        "your data's longest example); `evaluate` "
        f"{eval_tflop(params, dev_limit):.3g} TFLOP per {dev_limit} items; your own processes "
        f"{CPU_SECOND_TFLOP:g} TFLOP per CPU second"
    )


def describe(params: int, limit: float) -> dict[str, float | int]:
    """The compute budget's figures for code (``info["compute"]`` at reset)."""
    return {
        "tflop": limit,
        "params": params,
        "train_tflop_per_token": train_step_tflop(params, 1, 1),
        "train_start_tflop": job_start_tflop(),
        "eval_tflop_per_item": eval_tflop(params, 1),
        "cpu_second_tflop": CPU_SECOND_TFLOP,
    }


def sample_lengths(tokenizer: Any, snapshot: Path, max_length: int) -> list[int]:
    """Token counts (each at most ``max_length``) of the first chat examples of a JSONL file.

    Reads at most :data:`SAMPLE_EXAMPLES` lines and :data:`SAMPLE_BYTES` bytes; lines that are
    not chat examples are skipped (the job reports them).
    """
    from ptb_env.training.sft import tokenize_examples

    with open(snapshot, "rb") as f:
        head = f.read(SAMPLE_BYTES)
    lines = head.split(b"\n")
    if len(head) == SAMPLE_BYTES:
        lines = lines[:-1]  # cut by the byte limit
    examples: list[list[dict[str, str]]] = []
    for line in lines:
        if len(examples) >= SAMPLE_EXAMPLES:
            break
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, TypeError, KeyError):
            continue
        ok = isinstance(messages, list) and messages
        if ok and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            examples.append([{"role": str(m.get("role", "")), "content": m["content"]} for m in messages])
    try:
        rows = tokenize_examples(tokenizer, examples, max_length)
    except Exception:  # noqa: BLE001 - a template that refuses a role: count each example alone
        rows = []
        for ex in examples:
            try:
                rows += tokenize_examples(tokenizer, [ex], max_length)
            except Exception:  # noqa: BLE001 - the job will report it
                continue
    return [len(r["input_ids"]) for r in rows]


@dataclass
class _TrainCharge:
    job: Job
    tflop: float
    cpu_seen: float = 0.0


@dataclass
class ComputeMeter:
    """Charges an episode's compute ledger (see the module docstring).

    Args:
        ledger: The budget's compute ledger (its ``hold`` is set to this meter's).
        sandbox: The episode's sandbox (CPU time of its processes and jobs).
        params: Parameters of the task's base model.
        base_dir: The base model's directory (its tokenizer sizes ``max_length``).
    """

    ledger: Compute
    sandbox: Sandbox
    params: int
    base_dir: Path
    _jobs: list[_TrainCharge] = field(default_factory=list, init=False)
    _agent_cpu: float = field(default=0.0, init=False)
    _cpu_base: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _tokenizer: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.ledger.hold = self.holding

    # -- costs ------------------------------------------------------------------
    def train_step_tflop(self, batch_size: int, max_length: int) -> float:
        """TFLOP one optimizer step is charged."""
        return train_step_tflop(self.params, batch_size, max_length)

    def eval_tflop(self, items: int) -> float:
        """TFLOP an ``evaluate`` of ``items`` items is charged."""
        return eval_tflop(self.params, items)

    def data_max_length(self, snapshot: Path, cap: int) -> int | None:
        """The longest of the data's first examples in tokens (at most ``cap``), rounded up to 8;
        ``None`` when none of them is a chat example."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.base_dir, trust_remote_code=False)
        lengths = sample_lengths(self._tokenizer, snapshot, cap)
        return min(cap, -(-max(lengths) // 8) * 8) if lengths else None

    # -- charges ----------------------------------------------------------------
    def charge(self, tflop: float) -> None:
        """Charge work done by the env's tools."""
        with self._lock:
            self.ledger.charge(tflop)

    def paid_job(self, job: Job, tflop: float) -> None:
        """Charge a train job's ``tflop`` now; from here its CPU time is not the agent's."""
        with self._lock:
            self.ledger.charge(tflop)
            self._jobs.append(_TrainCharge(job, tflop))

    def start(self) -> None:
        """Count the agent's CPU time from now (after the sandbox started) and watch it."""
        self._cpu_base = self.sandbox.cpu_seconds()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="ptb-compute")
        self._thread.start()

    def sample(self) -> None:
        """Charge the agent's processes for the CPU time they used since the last sample."""
        self._sample_jobs()
        total = self.sandbox.cpu_seconds() - self._cpu_base
        with self._lock:
            credited = sum(min(c.cpu_seen, TRAIN_CPU_CREDIT * c.tflop / CPU_SECOND_TFLOP) for c in self._jobs)
            agent = max(self._agent_cpu, total - credited)
            self.ledger.charge((agent - self._agent_cpu) * CPU_SECOND_TFLOP)
            self._agent_cpu = agent

    def agent_cpu_seconds(self) -> float:
        """CPU seconds charged to the agent's own processes so far."""
        return self._agent_cpu

    def holding(self) -> bool:
        """Whether a paid train job still runs and the agent has not overdrawn the budget."""
        if self.ledger.limit is None or self.overdrawn():
            return False
        with self._lock:
            pending = [c.job for c in self._jobs if not c.job.done]
        if not pending:
            return False
        try:
            return any(not j.done for j in self.sandbox.jobs.status() if j in pending)
        except Exception:  # noqa: BLE001 - a shell the agent stopped or broke: nothing holds the episode
            return False

    def close(self) -> None:
        """Stop sampling (idempotent)."""
        self._stop.set()

    def _sample_jobs(self) -> None:
        with self._lock:
            running = [c for c in self._jobs if not c.job.done]
        for c in running:
            used = self.sandbox.job_cpu_seconds(c.job._pid)
            if used is not None:
                with self._lock:
                    c.cpu_seen = max(c.cpu_seen, used)

    def overdrawn(self) -> bool:
        """Whether the charges passed the budget by more than :data:`OVERDRAW_SHARE` of it."""
        limit = self.ledger.limit
        return limit is not None and self.ledger.used() > limit * (1 + OVERDRAW_SHARE)

    def _watch(self) -> None:
        """Every :data:`SAMPLE_INTERVAL_S`: sample the train jobs' CPU time (what a job uses after
        its last sample is charged to the agent: at most one interval's) and charge the agent's; kill
        every process of the episode when the agent's own work overdraws the budget (a command
        that computes for as long as it likes would otherwise be charged only once it ends)."""
        killed = False
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - /proc races while processes exit: next time
                continue
            if self.overdrawn() and not killed:
                killed = True
                self.sandbox.kill_processes(
                    f"compute budget exhausted ({self.ledger.used():.4g} of {self.ledger.limit:g} TFLOP "
                    "charged): every process was killed"
                )
