"""Final grading: freeze the checkpoint, validate it, score the hidden test split, reward the uplift.

Hidden from the agent: this module (source and bytecode), the hidden test
splits and the score cache are masked inside the sandbox (``ptb_env.paths``).

Order of grading (``Grader.grade``):
1. kill every process of the episode (so nothing rewrites the checkpoint while
   it is read);
2. copy ``final_model/`` out of the workspace, following symlinks only inside
   the workspace or the base model (``Workspace.export``);
3. validate: ``config.json`` with the base model's architecture and shapes,
   safetensors weights only (no pickle, ``trust_remote_code=False``), a
   tokenizer (if any) with the base model's vocabulary;
4. keep only the checkpoint's weights and ``config.json`` and add the task's own
   tokenizer, chat template and generation config, so the agent's files cannot
   change prompts or stop tokens;
5. evaluate the hidden test split with the shared evaluation path
   (``ptb_env.inference.evaluate``) in a jail: a child process with memory, CPU and
   time limits (``ptb_env.inference.jail``; the trusted base model is evaluated in
   process); reward = score - base score.

A missing or invalid checkpoint grades as the base model (reward 0) with the
reason, and so does one that fails during evaluation while the base model does
not; an error of the machinery raises :class:`GraderError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ptb_env.errors import (
    CheckpointError,
    CheckpointViolation,
    GraderError,
    JailError,
    SplitNotAvailable,
    WorkspaceError,
)  # fmt: skip
from ptb_env.inference.jail import JailConfig, JailLimits
from ptb_env.integrity import IntegrityConfig, Verdict
from ptb_env.integrity.checkpoint import check_checkpoint, read_config, tensor_shapes
from ptb_env.resolve import ResolvedTask, resolve_task
from ptb_env.score_cache import ScoreCache, checkpoint_files, checkpoint_fingerprint, content_hash
from ptb_env.tasks import TaskSpec
from ptb_env.workspace import Workspace

EVAL_VERSION = 1
"""Bumped when the evaluation path changes scores (invalidates the score cache)."""
TASK_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
    "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json",
    "chat_template.json", "additional_chat_templates",
)  # fmt: skip
"""Files (and directories) that grading always takes from the base model (the task's tokenizer,
template, stop tokens); every other file of a checkpoint but its weights and config is dropped."""
JAIL_MAX_PROCS = 256
"""Processes and threads of a jailed evaluation (torch and tokenizer threads)."""


@dataclass
class Grade:
    """The outcome of grading one episode.

    Attributes:
        status: ``"ok"`` or ``"invalid_checkpoint"`` (``"disqualified"`` is set by integrity checks).
        reward: score - base_score (0 when the checkpoint is invalid).
        score: test score of the checkpoint (the base score when invalid).
        base_score: test score of the base model.
        reason: why the checkpoint is invalid ("" when valid).
        n: test items scored.
        seconds: wall time of grading.
        cached: the checkpoint's score came from the score cache.
        checkpoint: SHA-256 of the scored checkpoint's weight and config files (the task's
            files swapped in), the score cache's key; "" when it was not scored.
    """

    status: str
    reward: float
    score: float
    base_score: float
    reason: str = ""
    n: int = 0
    seconds: float = 0.0
    cached: bool = False
    integrity: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    """Each integrity check's verdict (``Verdict.to_info()``), by check name."""

    def to_info(self) -> dict[str, Any]:
        return asdict(self)


class Grader:
    """Grades checkpoints for one task; shares base scores through the on-disk cache.

    Args:
        task: The task (base model, benchmark, eval settings), resolved by
            :func:`ptb_env.resolve.resolve_task` unless it already is.
        cache: Score cache (default: ``<cache_dir>/scores``).
        progress: Show progress bars while evaluating.
        integrity: Which integrity checks run at grading, and the penalty of a failure.
        jail: Limits of the child that evaluates agent checkpoints (default: sized from the
            base model's weights and evaluation time).
    """

    def __init__(
        self,
        task: str | TaskSpec | ResolvedTask,
        cache: ScoreCache | None = None,
        progress: bool = False,
        integrity: IntegrityConfig | None = None,
        jail: JailConfig | None = None,
    ) -> None:
        self.resolved = resolve_task(task)
        self.task: TaskSpec = self.resolved.spec
        self.integrity = integrity or IntegrityConfig()
        self.jail = jail or JailConfig()
        self._item_s: float | None = None
        """The base model's evaluation seconds per item (sizes the jail's time limit)."""
        self.base_dir = self.resolved.base_dir
        self.chat_template = self.resolved.chat_template
        self.backend = self.resolved.backend
        """The generation backend of every evaluation (``task.inference_backend`` resolved)."""
        self.cache = cache or ScoreCache()
        self.progress = progress
        self.benchmark = self.resolved.benchmark
        self._base_config: dict[str, Any] | None = None
        self._base_shapes: dict[str, tuple[int, ...]] | None = None

    # -- keys ----------------------------------------------------------------
    def _split_hash(self, split: str) -> str:
        try:
            return self.benchmark.fingerprint(split)
        except SplitNotAvailable as err:
            raise GraderError(str(err)) from err

    def _key(self, weights: str, split: str, limit: int | None) -> str:
        return self.cache.key(
            weights=weights,
            task_files=content_hash(
                self.base_dir, lambda p: p.relative_to(self.base_dir).parts[0] in TASK_FILES
            ),
            benchmark=self.benchmark.name,
            split=split,
            split_hash=self._split_hash(split),
            limit=limit,
            chat_template=self.chat_template,
            stop_tokens=list(self.task.stop_tokens),
            backend=self.backend,
            max_new_tokens=self.benchmark.max_new_tokens,
            batch_size=self.task.eval_batch_size,
            eval_version=EVAL_VERSION,
        )

    # -- scores --------------------------------------------------------------
    def base_score(self, split: str = "test", limit: int | None = None) -> float:
        """Score of the base model (cached on disk).

        Raises:
            GraderError: The base model cannot be evaluated (an infrastructure error).
        """
        try:
            weights = checkpoint_fingerprint(self.base_dir)
            key = self._key(weights, split, limit)
            value, _ = self.cache.get_or_compute(key, lambda: self._evaluate(self.base_dir, split, limit))
            self._item_s = float(value["seconds"]) / max(1, int(value["n"]))
        except GraderError:
            raise
        except Exception as err:
            raise GraderError(f"Could not score the base model {self.base_dir}: {err!r}") from err
        return float(value["score"])

    def validate(self, ckpt: Path) -> None:
        """Check a checkpoint against the base model (``ptb_env.integrity.checkpoint``).

        Raises:
            CheckpointViolation: It breaks the rules (pickle, remote code): disqualifies.
            CheckpointError: Why it is not a valid checkpoint of this task.
        """
        check_checkpoint(ckpt, self.base_dir, *self._base())

    def max_checkpoint_bytes(self) -> int:
        """Largest checkpoint copied out: four times the base model's weights plus 1 GiB."""
        weights = sum(p.stat().st_size for p in self.base_dir.glob("*.safetensors"))
        return 4 * weights + (1 << 30)

    def _base(self) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
        if self._base_config is None or self._base_shapes is None:
            self._base_config = read_config(self.base_dir)
            self._base_shapes = tensor_shapes(self.base_dir)
        return self._base_config, self._base_shapes

    def _overlay_task_files(self, ckpt: Path) -> None:
        """Keep the checkpoint's weights and config only; add the base model's task files.

        A whitelist: transformers reads more files than it writes (``added_tokens.json``,
        ``additional_chat_templates/``, ...), and any of them could change prompts.
        """
        for entry in ckpt.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif not checkpoint_files(entry):
                entry.unlink()
        for name in TASK_FILES:
            src = self.base_dir / name
            if src.is_dir():
                shutil.copytree(src, ckpt / name)
            elif src.is_file():
                shutil.copyfile(src, ckpt / name)
        if self.chat_template is not None:  # the task's template wins over the base model's too
            (ckpt / "chat_template.jinja").write_text(self.chat_template, encoding="utf-8")

    @contextlib.contextmanager
    def _jail_limits(self, split: str, limit: int | None) -> Iterator[JailLimits]:
        """The limits of one jailed evaluation, with a fresh cgroup (memory, CPU quota) where we may."""
        from ptb_env.sandbox.cgroups import create_cgroup

        threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
        limits = self.jail.limits(
            base_params=sum(math.prod(s) for s in self._base()[1].values()),
            items=len(self.benchmark.items(split, limit=limit)), item_s=self._item_s, threads=threads,
        )  # fmt: skip
        name = f"ptb-jail-{secrets.token_hex(4)}"
        cg = None  # the vLLM child takes the time limit only
        if self.backend == "transformers":
            cg = create_cgroup(name, limits.memory_bytes, JAIL_MAX_PROCS, threads)
        procs = tuple(str(f) for f in cg.procs_files) if cg is not None else ()
        try:
            yield dataclasses.replace(limits, cgroup_procs=procs, warm=str(self.base_dir))
        finally:
            if cg is not None:
                cg.remove()

    def _evaluate(
        self, model_dir: Path, split: str, limit: int | None, jailed: bool = False
    ) -> dict[str, Any]:
        """Score ``model_dir``; ``jailed``: generate in a child under the jail's limits (an agent's model)."""
        from ptb_env.inference import evaluate
        from ptb_env.inference import transformers_backend as backend

        if not self.progress:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        model = tokenizer = None
        if self.backend == "transformers" and not jailed:  # vLLM loads in its own process
            try:
                model, tokenizer = backend.load(model_dir, chat_template=self.chat_template)
            except Exception as err:  # noqa: BLE001 - validated files that still do not load
                raise CheckpointError(f"The checkpoint does not load: {type(err).__name__}: {err}") from None
        with self._jail_limits(split, limit) if jailed else contextlib.nullcontext() as jail:
            try:
                r = evaluate(
                    model_dir, self.benchmark, split, limit, batch_size=self.task.eval_batch_size,
                    chat_template=self.chat_template, progress=self.progress, model=model,
                    tokenizer=tokenizer, backend=self.backend, stop_tokens=self.task.stop_tokens, jail=jail,
                )  # fmt: skip
            except Exception as err:
                raise GraderError(f"Evaluation of {split} failed: {type(err).__name__}: {err}") from err
        return {"score": r.score, "n": r.n, "seconds": r.seconds}

    def score_checkpoint(
        self, ckpt: Path, split: str, limit: int | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Validate a copied-out checkpoint, swap in the task files (in place), score it (cached).

        Returns ``({"score", "n", "seconds"}, cached)``.

        Raises:
            CheckpointError: The checkpoint is invalid, does not load, or fails during
                evaluation while the base model still evaluates.
            GraderError: The evaluation machinery failed.
        """
        self.validate(ckpt)
        self._overlay_task_files(ckpt)
        fingerprint = checkpoint_fingerprint(ckpt)
        key = self._key(fingerprint, split, limit)
        try:
            value, cached = self.cache.get_or_compute(
                key, lambda: self._evaluate(ckpt, split, limit, jailed=True)
            )
            return {**value, "checkpoint": fingerprint}, cached
        except GraderError as err:
            jail = err.__cause__ if isinstance(err.__cause__, JailError) else None
            if (jail is not None and jail.kind == "infra") or not self._base_evaluates(split):
                raise
            raise CheckpointError(
                f"The checkpoint fails during evaluation (the base model does not): {jail or err}"
            ) from None

    def _base_evaluates(self, split: str) -> bool:
        """Whether the evaluation machinery still scores the base model (on two items, uncached).

        Tells a checkpoint that breaks evaluation (a forward pass that crashes, a memory or
        time limit of the jail) from a failure of the machinery: the base model runs in the
        same jail, so limits too tight for any model are a ``GraderError``, never a zero.
        """
        try:
            self._evaluate(self.base_dir, split, 2, jailed=True)
        except Exception:  # noqa: BLE001 - any failure: the machinery is broken
            return False
        return True

    def _export(self, workspace: Workspace, rel: str, dest: Path) -> None:
        try:
            workspace.export(rel, dest, max_bytes=self.max_checkpoint_bytes())
        except (WorkspaceError, OSError, RecursionError) as err:
            raise CheckpointError(f"{rel}/ cannot be copied out of the workspace: {err}") from None
        if not dest.is_dir():
            raise CheckpointError(f"{rel!r} is not a directory.")

    def score_workspace(
        self, workspace: Workspace, rel: str, split: str, limit: int | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Copy ``rel`` out of the workspace and score it; returns ``(value, cached)``.

        Raises:
            CheckpointError: ``rel`` escapes the workspace, is no directory, or is invalid.
        """
        with tempfile.TemporaryDirectory(prefix="ptb-grade-") as tmp:
            ckpt = Path(tmp) / "ckpt"
            self._export(workspace, rel, ckpt)
            return self.score_checkpoint(ckpt, split, limit)

    def grade(
        self,
        workspace: Workspace,
        kill: Callable[[], None],
        *,
        scan_paths: Sequence[Path] = (),
        snapshot_paths: Sequence[Path] = (),
        tool_texts: Sequence[tuple[str, str]] = (),
        trajectory: Sequence[dict[str, Any]] = (),
    ) -> Grade:
        """Grade an episode: ``kill()`` its processes, run the integrity checks, score ``final_model/``.

        Args:
            workspace: The episode's workspace.
            kill: Kills every process of the episode (called first).
            scan_paths: More agent trees to scan for contamination, with the scan's caps (the
                copy of the sandbox's ``/tmp``).
            snapshot_paths: Paths scanned in full, without caps (the ``train`` tool's snapshots).
            tool_texts: ``(name, text)`` of the text the agent sent through the tools, scanned in full.
            trajectory: The episode's steps, for the optional LLM judge.

        Raises:
            GraderError: The grader itself failed (an infrastructure error, never a reward).
        """
        t0 = time.perf_counter()
        kill()
        base = self.base_score("test", self.task.test_limit)
        try:
            return self._grade(workspace, base, scan_paths, trajectory, t0, snapshot_paths, tool_texts)
        except GraderError:
            raise
        except Exception as err:
            raise GraderError(f"Grading failed: {type(err).__name__}: {err}") from err

    def _grade(
        self,
        workspace: Workspace,
        base: float,
        scan_paths: Sequence[Path],
        trajectory: Sequence[dict[str, Any]],
        t0: float,
        snapshot_paths: Sequence[Path] = (),
        tool_texts: Sequence[tuple[str, str]] = (),
    ) -> Grade:
        cfg, verdicts = self.integrity, {}
        if cfg.contamination:
            from ptb_env.integrity.contamination import ContaminationConfig, scan_contamination

            scan = cfg.contamination_config or ContaminationConfig()
            verdicts["contamination"] = scan_contamination(
                [*scan_paths, workspace.root], self.benchmark.items("test"), scan,
                full_paths=snapshot_paths, texts=tool_texts, control_items=self.benchmark.control_items(),
            )  # fmt: skip
        invalid = ""
        with tempfile.TemporaryDirectory(prefix="ptb-grade-") as tmp:
            ckpt = Path(tmp) / "ckpt"
            try:
                self._export(workspace, workspace.layout.final_model, ckpt)
                self.validate(ckpt)
                verdicts["checkpoint"] = Verdict("checkpoint", True)
            except CheckpointViolation as err:
                verdicts["checkpoint"] = Verdict("checkpoint", False, str(err))
            except CheckpointError as err:
                invalid = str(err)
                verdicts["checkpoint"] = Verdict(
                    "checkpoint", True, f"invalid, graded as the base model: {err}"
                )
            if cfg.lineage and verdicts["checkpoint"].passed and not invalid:
                from ptb_env.integrity.lineage import check_lineage

                verdicts["lineage"] = check_lineage(ckpt, self.base_dir)
            if cfg.judge is not None:
                from ptb_env.integrity.judge import judge_episode

                try:
                    verdicts["judge"] = judge_episode(cfg.judge, workspace, trajectory)
                except GraderError as err:
                    if cfg.judge_disqualifies:
                        raise
                    verdicts["judge"] = Verdict(  # unknown is no pass; it disqualifies only if the judge does
                        "judge", False, f"judge unavailable: {err}", {"verdict": "unknown", "error": str(err)}
                    )
            info = {k: v.to_info() for k, v in verdicts.items()}
            failed = [
                v
                for v in verdicts.values()
                if not v.passed and (v.check != "judge" or cfg.judge_disqualifies)
            ]
            if failed:
                reason = "; ".join(f"{v.check}: {v.reason}" for v in failed)
                return Grade("disqualified", -cfg.penalty, base, base, reason, 0, time.perf_counter() - t0,
                             integrity=info)  # fmt: skip
            if not invalid:
                try:
                    value, cached = self.score_checkpoint(ckpt, "test", self.task.test_limit)
                except CheckpointError as err:
                    invalid = str(err)
        if invalid:
            return Grade(
                "invalid_checkpoint", 0.0, base, base, invalid, 0, time.perf_counter() - t0, integrity=info
            )
        score = float(value["score"])
        return Grade(
            "ok",
            score - base,
            score,
            base,
            "",
            int(value["n"]),
            time.perf_counter() - t0,
            cached,
            integrity=info,
            checkpoint=str(value["checkpoint"]),
        )
