"""Lineage check: the final weights derive from the base model (shapes, vocabulary, weight distance).

A fine-tune keeps every tensor of the base model pointing where it started: per
tensor, the cosine similarity of ``W`` and ``W0`` (as flat vectors) stays well above
0 (0.8-1 for usual learning rates, 0.46 at worst for an aggressive one), even when the
relative distance ``||W - W0|| / ||W0||`` grows past 1. A model
trained elsewhere (another seed, from scratch, a downloaded model with the same
shapes) shares no direction with the base: its matrices have cosine near 0 and
relative distance near sqrt(2). The thresholds of :class:`LineageConfig` were set
from the figures printed by ``tests/integrity/lineage_profile.py`` (genuine full
and LoRA-merged fine-tunes, aggressive ones included, against substitutes).

Partial substitution is flagged too: a model in which any sizeable tensor (the
embeddings, one projection of one layer) was swapped for another model's fails,
because that tensor has no cosine left with the base's.

What this check cannot see: a model distilled into the base by training on a
substitute's outputs is a genuine fine-tune here; a base whose hidden units were
permuted computes the same function yet fails. Weights are read with
``safetensors`` only (never pickle), one tensor at a time, so memory stays at
about two tensors of the largest size.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from ptb_env.errors import GraderError
from ptb_env.integrity import Verdict

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
UNREADABLE = (OSError, ValueError, SafetensorError)
"""Errors of reading a weights file (a malformed file fails the check, it does not crash it)."""
CHUNK = 1 << 22
"""Elements per float64 chunk of the distance sums."""


@dataclass(frozen=True)
class LineageConfig:
    """Thresholds of the lineage check (see ``tests/integrity/lineage_profile.py`` for the figures)."""

    min_tensor_numel: int = 4096
    """Only matrices of at least this many elements are flagged alone; vectors (norm scales,
    biases) and small matrices count in the summary only: another model's norm scales, all
    near 1, still point the base's way, and a short vector's cosine is noisy."""
    min_tensor_cosine: float = 0.25
    """A sizeable tensor whose cosine with the base's is below this was not fine-tuned from it
    (swapped in). Measured: substitutes and swapped tensors <= 0.03; genuine fine-tunes >= 0.82
    at lr 2e-3, down to 0.457 for an aggressive full SFT (lr 5e-3, 2,000 steps)."""
    max_substituted_share: float = 0.0
    """Largest share of parameters allowed in such tensors; 0 flags any partial substitution."""
    min_weighted_cosine: float = 0.4
    """Size-weighted mean cosine of the whole model below this fails (whole-model substitution).
    Measured: substitutes about 0.00; fine-tunes >= 0.91 at lr 2e-3, 0.661 at lr 5e-3 x 2,000."""
    max_weighted_distance: float = 3.0
    """Size-weighted mean relative distance above this fails (e.g. the base plus a large multiple
    of another model, which keeps some cosine). Distance alone does not separate: substitutes
    measure about 1.1, the aggressive fine-tune 1.34."""
    distance_threshold: float = 0.5
    """Per-tensor relative distance counted as "beyond" in the evidence (reporting only)."""
    top_k: int = 8
    """Most-changed tensors listed in the evidence."""
    max_tokenizer_bytes: int = 64 * 2**20
    """A ``tokenizer.json`` larger than this fails without being parsed."""


def check_lineage(ckpt_dir: Path, base_dir: Path, config: LineageConfig = LineageConfig()) -> Verdict:
    """Whether the checkpoint in ``ckpt_dir`` was fine-tuned from the model in ``base_dir``.

    Fails (``passed=False``) on: no safetensors weights, different tensor names or
    shapes, a ``tokenizer.json`` whose vocabulary differs from the base's, non-finite
    weights, or a weight-distance profile unlike a fine-tune's (see :class:`LineageConfig`).
    Raises :class:`GraderError` when the base model itself cannot be read.

    Example:
        >>> from ptb_env.paths import TINY_MODEL_DIR
        >>> check_lineage(TINY_MODEL_DIR, TINY_MODEL_DIR).passed
        True
    """
    ckpt_dir, base_dir = Path(ckpt_dir), Path(base_dir)
    try:
        base_index = _tensor_index(base_dir)
    except UNREADABLE as e:
        raise GraderError(f"Cannot read the base model's weights in {base_dir}: {e}") from e
    if not base_index:
        raise GraderError(f"The base model in {base_dir} has no safetensors weights.")

    def fail(reason: str, **evidence: Any) -> Verdict:
        return Verdict("lineage", False, reason, evidence)

    try:
        ckpt_index = _tensor_index(ckpt_dir)
    except UNREADABLE as e:
        return fail(f"The checkpoint's safetensors weights cannot be read: {e}")
    if not ckpt_index:
        return fail(f"The checkpoint has no {SAFE_WEIGHTS} (safetensors weights are required).")

    missing, extra = (
        sorted(base_index.keys() - ckpt_index.keys()),
        sorted(ckpt_index.keys() - base_index.keys()),
    )
    if missing or extra:
        return fail(
            f"Tensor names differ from the base model's ({len(missing)} missing, {len(extra)} extra); "
            "save the fine-tuned model with `model.save_pretrained(out, safe_serialization=True)`.",
            missing=missing[:20],
            extra=extra[:20],
        )
    shapes = [
        {"tensor": n, "base": base_index[n][1], "checkpoint": ckpt_index[n][1]}
        for n in sorted(base_index)
        if base_index[n][1] != ckpt_index[n][1]
    ]
    if shapes:
        return fail(f"{len(shapes)} tensor shapes differ from the base model's.", shapes=shapes[:20])

    vocab = _vocabulary_difference(ckpt_dir, base_dir, config)
    if vocab is not None:
        return fail("The tokenizer vocabulary differs from the base model's.", tokenizer=vocab)

    try:
        rows = _distances(ckpt_index, base_index)
    except (*UNREADABLE, RuntimeError, TypeError) as e:
        return fail(f"The checkpoint's weights cannot be compared with the base's: {e}")
    summary = _summarize(rows, config)
    top = sorted(rows, key=lambda r: -math.inf if r["distance"] is None else -r["distance"])
    for r in top:
        if r["distance"] is not None:
            r.update(distance=round(r["distance"], 4), cosine=round(r["cosine"], 4))
    evidence = {
        "summary": summary,
        "most_changed": top[: config.top_k],
        "weight_files": sorted({path.name for path, _, _ in ckpt_index.values()}),
        "config": asdict(config),
    }
    reasons = []
    s, c = summary, config
    if summary["non_finite"]:
        reasons.append(f"{summary['non_finite']} tensors hold NaN or infinite weights")
    if summary["substituted_share"] > config.max_substituted_share:
        reasons.append(
            f"{s['substituted_tensors']} tensors ({s['substituted_share']:.1%} of the parameters) "
            f"have cosine < {c.min_tensor_cosine} with the base (swapped in, not fine-tuned)"
        )
    if summary["weighted_cosine"] < config.min_weighted_cosine:
        reasons.append(
            f"size-weighted cosine with the base {s['weighted_cosine']:.3f} < {c.min_weighted_cosine}"
        )
    if summary["weighted_distance"] > config.max_weighted_distance:
        reasons.append(
            f"size-weighted relative distance {s['weighted_distance']:.3f} > {c.max_weighted_distance}"
        )
    if reasons:
        return fail("The weights do not derive from the base model: " + "; ".join(reasons) + ".", **evidence)
    return Verdict("lineage", True, "", evidence)


def _weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files transformers would load: ``model.safetensors``, else the index's shards."""
    if (model_dir / SAFE_WEIGHTS).is_file():
        return [model_dir / SAFE_WEIGHTS]
    if (model_dir / SAFE_INDEX).is_file():
        weight_map = json.loads((model_dir / SAFE_INDEX).read_text(encoding="utf-8")).get("weight_map", {})
        names = sorted({str(v) for v in weight_map.values()})
        if any(Path(n).name != n or not n.endswith(".safetensors") for n in names):
            raise ValueError(f"{SAFE_INDEX} names shards outside the directory or not in safetensors.")
        return [model_dir / n for n in names]
    return sorted(model_dir.glob("*.safetensors"))


def _tensor_index(model_dir: Path) -> dict[str, tuple[Path, list[int], str]]:
    """Tensor name -> (file, shape, dtype), read from the safetensors headers only."""
    from safetensors import safe_open

    index: dict[str, tuple[Path, list[int], str]] = {}
    for path in _weight_files(model_dir):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                if name in index:
                    raise ValueError(f"tensor {name!r} is stored twice ({index[name][0].name}, {path.name}).")
                piece = f.get_slice(name)
                index[name] = (path, list(piece.get_shape()), str(piece.get_dtype()))
    return index


def _vocabulary(path: Path, config: LineageConfig) -> dict[str, int]:
    """Token -> id of a ``tokenizer.json``: the model's vocabulary plus the added tokens."""
    if path.stat().st_size > config.max_tokenizer_bytes:
        raise ValueError(f"{path.name} is larger than {config.max_tokenizer_bytes} bytes")
    data = json.loads(path.read_text(encoding="utf-8"))
    vocab = data.get("model", {}).get("vocab", {})
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        vocab = {str(piece[0]): i for i, piece in enumerate(vocab)}
    out = {str(k): int(v) for k, v in vocab.items()}
    out.update({str(t["content"]): int(t["id"]) for t in data.get("added_tokens", [])})
    return out


def _vocabulary_difference(ckpt_dir: Path, base_dir: Path, config: LineageConfig) -> dict[str, Any] | None:
    """None when the checkpoint has no ``tokenizer.json`` or the same vocabulary as the base's."""
    path = ckpt_dir / "tokenizer.json"
    if not path.exists() or not (base_dir / "tokenizer.json").is_file():
        return None
    try:
        ours = _vocabulary(path, config)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        return {"error": f"tokenizer.json cannot be read: {e}"}
    try:
        theirs = _vocabulary(base_dir / "tokenizer.json", config)
    except (OSError, ValueError) as e:
        raise GraderError(f"Cannot read the base model's tokenizer.json: {e}") from e
    if ours == theirs:
        return None
    changed = sorted(t for t in ours.keys() & theirs.keys() if ours[t] != theirs[t])
    return {
        "base_size": len(theirs),
        "checkpoint_size": len(ours),
        "missing": sorted(theirs.keys() - ours.keys())[:20],
        "extra": sorted(ours.keys() - theirs.keys())[:20],
        "renumbered": changed[:20],
    }


def _distances(ckpt_index: dict, base_index: dict) -> list[dict[str, Any]]:
    """Per tensor: relative L2 distance to the base, cosine similarity, size.

    One pair of tensors is in memory at a time (in their stored dtype); the sums run in
    float64 over chunks, so precision does not depend on the tensor's size.
    """
    import contextlib

    import torch
    from safetensors import safe_open

    rows = []
    with contextlib.ExitStack() as stack:
        handles: dict[Path, Any] = {}

        def load(entry: tuple[Path, list[int], str], name: str) -> torch.Tensor:
            if entry[0] not in handles:
                handles[entry[0]] = stack.enter_context(safe_open(str(entry[0]), framework="pt"))
            return handles[entry[0]].get_tensor(name).flatten()

        for name in sorted(base_index):
            w, w0 = load(ckpt_index[name], name), load(base_index[name], name)
            ww = w0w0 = dd = dot = 0.0
            for a, b in zip(w.split(CHUNK), w0.split(CHUNK), strict=True):
                a, b = a.to(torch.float64), b.to(torch.float64)
                ww += float(a @ a)
                w0w0 += float(b @ b)
                dd += float((a - b) @ (a - b))
                dot += float(a @ b)
            del w, w0
            shape = base_index[name][1]
            row: dict[str, Any] = {"tensor": name, "shape": shape, "numel": math.prod(shape)}
            if not all(math.isfinite(x) for x in (ww, w0w0, dd, dot)):
                row.update(distance=None, cosine=None, note="non-finite weights")
            elif w0w0 == 0:
                row.update(distance=None, cosine=None, note="all zeros in the base")
            else:
                cos = dot / math.sqrt(ww * w0w0) if ww > 0 else 0.0
                row.update(distance=math.sqrt(dd / w0w0), cosine=max(-1.0, min(1.0, cos)))
            rows.append(row)
    return rows


def _summarize(rows: list[dict[str, Any]], config: LineageConfig) -> dict[str, Any]:
    """Median, worst and size-weighted distance and cosine; the shares beyond the thresholds."""
    scored = [r for r in rows if r["distance"] is not None]
    total = sum(r["numel"] for r in scored) or 1
    big = [r for r in scored if len(r["shape"]) >= 2 and r["numel"] >= config.min_tensor_numel]
    swapped = [r for r in big if r["cosine"] < config.min_tensor_cosine]
    beyond = [r for r in scored if r["distance"] > config.distance_threshold]

    def median(xs: list[float]) -> float:
        xs = sorted(xs)
        return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2 if xs else 0.0

    return {
        "tensors": len(rows),
        "parameters": sum(r["numel"] for r in rows),
        "non_finite": sum(r.get("note") == "non-finite weights" for r in rows),
        "median_distance": round(median([r["distance"] for r in scored]), 4),
        "worst_distance": round(max((r["distance"] for r in scored), default=0.0), 4),
        "weighted_distance": round(sum(r["distance"] * r["numel"] for r in scored) / total, 4),
        "median_cosine": round(median([r["cosine"] for r in scored]), 4),
        "worst_cosine": round(min((r["cosine"] for r in big), default=1.0), 4),
        "weighted_cosine": round(sum(r["cosine"] * r["numel"] for r in scored) / total, 4),
        "share_beyond_distance": round(sum(r["numel"] for r in beyond) / total, 4),
        "substituted_tensors": len(swapped),
        "substituted_share": round(sum(r["numel"] for r in swapped) / total, 4),
    }
