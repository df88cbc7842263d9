"""The score cache: scores on disk keyed by content, shared by concurrent envs.

Keys are built by the grader from the checkpoint's weights, the task's files, the
benchmark split's contents and the evaluation settings; :func:`content_hash`
fingerprints a model directory. The cache directory is masked in the sandbox.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptb_env.paths import cache_dir

_HASH_MEMO: dict[tuple, str] = {}


def content_hash(model_dir: Path, names: Callable[[Path], bool] | None = None) -> str:
    """SHA-256 over a model directory's files (name and bytes), memoized by size and mtime."""
    files = sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and (names is None or names(p)))
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    memo_key = (str(model_dir), stats)
    if memo_key in _HASH_MEMO:
        return _HASH_MEMO[memo_key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(model_dir)).encode() + b"\0")
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    _HASH_MEMO[memo_key] = digest = h.hexdigest()
    return digest


def checkpoint_files(p: Path) -> bool:
    """The files of a checkpoint its fingerprint covers: weights (``*.safetensors``), config, index."""
    return p.suffix == ".safetensors" or p.name in ("config.json", "model.safetensors.index.json")


def checkpoint_fingerprint(model_dir: Path) -> str:
    """SHA-256 over a checkpoint's weight and config files (the score cache's key for its weights).

    Only for directories the host owns (the grader's copy of a checkpoint): it follows links.
    """
    return content_hash(model_dir, checkpoint_files)


class ScoreCache:
    """Scores on disk, one JSON file per key; safe for concurrent envs (a lock file per key)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "scores"

    @staticmethod
    def key(**parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """The cached value of ``key``, computing it once across processes. Returns ``(value, hit)``."""
        hit = self.get(key)
        if hit is not None:
            return hit, True
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                hit = self.get(key)
                if hit is not None:
                    return hit, True
                value = compute()
                tmp = self.root / f".{key}.{os.getpid()}.tmp"
                tmp.write_text(json.dumps(value))
                os.replace(tmp, self.root / f"{key}.json")
                return value, False
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
