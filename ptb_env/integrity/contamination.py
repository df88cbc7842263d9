"""Contamination scan: finds hidden test items in the text files an agent leaves or trains on.

Matching works on normalized words (Unicode NFKC, lower case, punctuation as spaces):

- a *long* item (question of ``long_words`` words or more) matches when at least
  ``overlap`` of its word ``ngram``-grams occur anywhere in the scanned text;
- a *short* item matches when its whole question occurs as a word sequence;
- *answers only*: a run of consecutive test answers (or reference replies) in split
  order, long enough to carry ``answer_bits`` bits, matches every item of the run
  when it occurs with nothing but non-answer words between the answers; an item id
  (with letters and digits, two words or more) matches its item.

Lines and n-grams shared by many test items (an instruction line) are template, not item
text, and are ignored. Control items (drawn like the test split but not in it, where the
benchmark can draw them) measure each workspace's chance level: honest work that happens to
reproduce short, common items matches control items as often as test items, and the
threshold rises by that much (``ContaminationConfig.chance_sd``). Not detected: paraphrases,
translations, encodings (base64, gzip, token ids), answers in another order or numbered with
digits, text in binary files, and a leak too small to stand out of a workspace's chance level.

What is scanned, in this order: in-memory texts (what the agent sent through the tools),
then files the host wrote (the ``train`` tool's snapshots), both in full and uncapped, then
the agent's trees (the workspace), capped. Files are read by
:mod:`ptb_env.integrity.textfiles` (the workspace is hostile: no link is followed, FIFOs
and devices are never opened, binary bytes such as NUL padding are dropped and never count
as text, a copy of a file read in full is not read again). The scan fails closed: a cap
hit or an unreadable file or folder makes it *incomplete*, and an incomplete scan fails
(``passed=False``, reason ``scan incomplete: ...``), whatever it matched.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from ptb_env.benchmarks.base import Item
from ptb_env.integrity import Verdict
from ptb_env.integrity.textfiles import ReadLog, read_texts, split_text

_B = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_MOD = 1 << 64
_WORD = re.compile(r"[^\W_]+")
_ASCII_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})
_BLOCK_WORDS = 1 << 20  # words hashed at a time
_NGRAM, _QUESTION, _ID, _ANSWERS = range(4)
_CAPS = ("max_files", "max_file_bytes", "max_total_bytes", "max_read_bytes")
_HOW = {_NGRAM: "ngram overlap", _QUESTION: "question", _ID: "item id", _ANSWERS: "answer run"}


@dataclass(frozen=True)
class ContaminationConfig:
    """Thresholds and limits of :func:`scan_contamination` (defaults measured on the tiny world)."""

    ngram: int = 8
    """Words per n-gram of long items (as in PaLM's contamination study, which used 70% overlap)."""
    overlap: float = 0.8
    """A long item matches when at least this share of its n-grams occurs in the scanned text.
    Above PaLM's 70%: in tiny-arith, whose train data shares story templates with the test
    split, up to 70% of an item's 8-grams can occur in clean data (58% did in 200k examples)."""
    long_words: int = 20
    """Questions of at least this many words (template lines left out) are long; shorter ones
    must occur whole."""
    min_short_words: int = 3
    """Questions shorter than this are too generic to match at all (counted as unscannable)."""
    min_items: int = 3
    """The scan fails when at least this many test items match (one or two may be coincidence),
    and, with control items, this many more than chance (``chance_sd``)."""
    chance_sd: float = 4.0
    """With control items (drawn like the test split, never shown to anyone), the chance level of
    a workspace is the mean and standard deviation of the control items it matches per test-sized
    draw: an agent that never saw the test split matches test items as often. The scan then fails
    only when the test items matched reach the mean plus ``max(min_items, chance_sd x sd)``.
    Where a benchmark's items are few and short (a request of five words), honest augmentation
    with natural wordings and common names reproduces some of them."""
    answer_bits: float = 64.0
    """Information a run of consecutive answers must carry, from the answers' frequencies in
    the split (13 tiny-arith numbers, 33 tiny-facts letters): chance runs stay out of reach."""
    boilerplate_share: float = 0.2
    """Lines and n-grams in this share of the distinct test questions (and in 3) are template."""
    max_file_bytes: int = 1 << 30
    """Text bytes scanned of one file of the capped paths (the workspace). A cap hit makes the
    scan incomplete, and an incomplete scan fails: raise the caps for tasks with more data."""
    max_total_bytes: int = 1 << 30
    """Text bytes scanned in all in the capped paths, about a minute of scanning (binary bytes,
    copies of files read in full and the uncapped paths and texts do not count)."""
    max_read_bytes: int = 16 << 30
    """Bytes read in all in the capped paths, binary ones included (holes of sparse files are
    not read)."""
    max_files: int = 100_000
    """Files and directories opened in the capped paths; the walk stops there."""
    binary_share: float = 0.01
    """A file without a text suffix stops at its first block of 1 MiB in which more than this
    share of the bytes but NULs are control bytes (a checkpoint, an archive: binary)."""
    text_suffixes: tuple[str, ...] = (".txt", ".json", ".jsonl", ".csv", ".tsv", ".md", ".py", ".yaml")
    """Files with these suffixes are read as text to their end whatever they hold (binary
    bytes dropped)."""


def normalize(text: str) -> list[str]:
    """The words of ``text``: NFKC, lower case, punctuation and underscores as spaces.

    >>> normalize("What's  12+3? Say ÉTÉ_now.")
    ['what', 's', '12', '3', 'say', 'été', 'now']
    """
    if text.isascii():  # the same words, four times faster
        return text.lower().translate(_ASCII_SEPARATORS).split()
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _value(word: str, flag: int) -> int:
    """A random 64-bit value per word (never 0, the value of unknown words); bit 0 flags answer words."""
    v = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return (v & ~1) | flag or 2


class _Index:
    """The test side: hashed phrases and the items each stands for.

    Stream 0 is every word of the scanned text (n-grams, short questions, ids); stream 1 keeps
    only the words that occur in answers, so that answers separated by other words (keys,
    numbering by letters) still form a run.
    """

    def __init__(self, items: Sequence[Item], cfg: ContaminationConfig, runs_of: int | None = None) -> None:
        """``runs_of``: answer runs of the first items only (control items come after the test
        split: nobody reproduces a run of their answers by chance, so they need none)."""
        self.items, n = items, len(items)
        # questions without template lines (an instruction every item ends with)
        questions = [_lines(it) for it in items]
        cut = max(3, cfg.boilerplate_share * len(set(questions)))  # in this many questions: template
        line_df = Counter(line for q in set(questions) for line in set(q))
        template = {line for line, k in line_df.items() if k >= cut}
        words = [_strip(q, template) for q in questions]
        answers = [tuple(normalize(it.answer)) for it in items[:runs_of]]
        targets = [tuple(normalize(it.target)) for it in items[:runs_of]]
        ids = [tuple(normalize(it.id)) for it in items]
        answer_words = {w for seq in (answers, targets) for a in seq for w in a}
        vocab = answer_words | {w for seq in (words, ids) for a in seq for w in a}
        self.vocab = {w: _value(w, int(w in answer_words)) for w in vocab}
        # long items: their n-grams but template ones; short items: the whole question; ids
        self.keys: dict[tuple[int, int, int], int] = {}  # (stream, length, hash) -> key id
        entries: list[tuple[int, int, int]] = []  # (key id, item, kind)
        self.ngram_total = np.zeros(n, np.int64)
        self.unscannable: list[int] = []  # items too short to match
        grams = [{tuple(w[i : i + cfg.ngram]) for i in range(len(w) - cfg.ngram + 1)} for w in words]
        first = {tuple(w): i for i, w in enumerate(words)}
        gram_df = Counter(g for i in first.values() for g in grams[i])
        for i, w in enumerate(words):
            if len(w) >= cfg.long_words:
                kept = [g for g in grams[i] if gram_df[g] < cut]
                self.ngram_total[i] = len(kept)
                entries += [(self._key(0, g), i, _NGRAM) for g in kept]
            elif len(w) >= cfg.min_short_words:
                entries.append((self._key(0, w), i, _QUESTION))
            else:
                self.unscannable.append(i)
            if len(ids[i]) >= 2 and re.search(r"[^\W\d_]", items[i].id) and re.search(r"\d", items[i].id):
                entries.append((self._key(0, ids[i]), i, _ID))
        # answers only: runs of consecutive answers, and of reference replies when they differ
        for seq in (answers, targets) if targets != answers and any(targets) else (answers,):
            entries += self._runs(seq, cfg.answer_bits)
        e = np.array(entries or [(0, 0, 0)], np.int64).reshape(-1, 3)[: len(entries)]
        self.e_key, self.e_item, self.e_kind = e[:, 0], e[:, 1], e[:, 2]
        self.tables = [_Table({k: v for k, v in self.keys.items() if k[0] == s}) for s in (0, 1)]

    def _key(self, stream: int, words: Sequence[str]) -> int:
        h = 0
        for w in words:  # the polynomial hash that _Table.lookup computes for every window
            h = (h * _B + self.vocab[w]) % _MOD
        return self.keys.setdefault((stream, len(words), h), len(self.keys))

    def _runs(self, seq: list[tuple[str, ...]], bits_needed: float) -> list[tuple[int, int, int]]:
        """Windows over the answers in split order, each as long as ``bits_needed`` bits need."""
        counts = Counter(seq)
        bits = sum(math.log2(len(seq) / counts[a]) for a in seq)
        flat = [(w, i) for i, a in enumerate(seq) for w in a]
        if bits <= 0 or not flat:
            return []
        size = max(4, math.ceil(bits_needed * len(flat) / bits))
        starts = np.cumsum([0] + [len(a) for a in seq])  # item i has words starts[i]:starts[i + 1]
        out = []
        for s in range(len(flat) - size + 1):
            first = int(np.searchsorted(starts[:-1], s))
            last = int(np.searchsorted(starts[1:], s + size, side="right"))
            key = self._key(1, [w for w, _ in flat[s : s + size]])
            out += [(key, i, _ANSWERS) for i in range(first, last) if seq[i]]
        return out


_INDEXES: dict[tuple[str, ContaminationConfig, int], _Index] = {}


def _index(items: Sequence[Item], cfg: ContaminationConfig, runs_of: int) -> _Index:
    """The index of ``items``, built once per process for the same items (every grading of a
    task scans the same test and control items: building costs about a second, hashing them
    milliseconds). The index is read-only once built."""
    digest = hashlib.sha256()
    for it in items:
        digest.update(json.dumps([it.id, it.messages, it.answer, it.target]).encode())
    key = (digest.hexdigest(), cfg, runs_of)
    if key not in _INDEXES:
        if len(_INDEXES) >= 4:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[key] = _Index(items, cfg, runs_of=runs_of)
    return _INDEXES[key]


def _lines(item: Item) -> tuple[tuple[str, ...], ...]:
    """The normalized lines of an item's question (its user turns)."""
    text = "\n".join(m.get("content", "") for m in item.messages if m.get("role") == "user")
    return tuple(t for t in (tuple(normalize(line)) for line in text.split("\n")) if t)


def _strip(lines: tuple[tuple[str, ...], ...], template: set[tuple[str, ...]]) -> list[str]:
    """The question's words without template lines at its start and end."""
    lo, hi = 0, len(lines)
    while lo < hi and lines[lo] in template:
        lo += 1
    while hi > lo and lines[hi - 1] in template:
        hi -= 1
    return [w for line in lines[lo:hi] for w in line]


class _Table:
    """Sorted hashes per phrase length, with a bitmap that rejects most windows cheaply."""

    def __init__(self, keys: dict[tuple[int, int, int], int]) -> None:
        self.by_len: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.uint64]] = {}
        for length in sorted({k[1] for k in keys}):
            pairs = sorted((h, kid) for (_, L, h), kid in keys.items() if L == length)
            hashes = np.array([h for h, _ in pairs], np.uint64)
            bits = max(10, math.ceil(math.log2(64 * len(pairs))))
            shift = np.uint64(64 - bits)
            bitmap = np.zeros(1 << bits, bool)
            bitmap[hashes >> shift] = True
            self.by_len[length] = (hashes, np.array([k for _, k in pairs], np.int64), bitmap, shift)
        self.longest = max(self.by_len, default=1)

    def lookup(self, x: np.ndarray, pw: np.ndarray, ipw: np.ndarray) -> list[np.ndarray]:
        """Key ids of the phrases found among the windows of ``x``.

        With ``g[i] = sum(x[j] / B**j for j < i)`` (modulo 2**64, B odd so invertible), the
        window ``x[s:s + L]`` hashes to ``(g[s + L] - g[s]) * B**(s + L - 1)``: the value
        ``_Index._key`` computes, for every window of a length at once.
        """
        n = len(x)
        g = np.zeros(n + 1, np.uint64)
        np.cumsum(x * ipw[:n], out=g[1:])
        found = []
        for length, (hashes, kids, bitmap, shift) in self.by_len.items():
            if n < length:
                break
            h = (g[length:] - g[: n - length + 1]) * pw[length - 1 : n]
            cand = h[bitmap[h >> shift]]
            pos = np.minimum(np.searchsorted(hashes, cand), len(hashes) - 1)
            found.append(kids[pos[hashes[pos] == cand]])
        return found


class _Stream:
    """Word values of one file, looked up block by block with an overlap across blocks."""

    def __init__(self, index: _Index, block_words: int) -> None:
        self.index = index
        size = block_words + max(t.longest for t in index.tables) + 1
        one = np.ones(1, np.uint64)  # powers of B and of its inverse, wrapping modulo 2**64
        self.pw = np.concatenate([one, np.cumprod(np.full(size - 1, _B, np.uint64))])
        self.ipw = np.concatenate([one, np.cumprod(np.full(size - 1, pow(_B, -1, _MOD), np.uint64))])
        self.block_words = block_words
        self.start_file()

    def start_file(self) -> None:
        self.carry = [np.zeros(0, np.uint64), np.zeros(0, np.uint64)]
        self.found: list[np.ndarray] = []

    def feed(self, text: str) -> None:
        words = normalize(text)
        values = np.fromiter(map(self.index.vocab.get, words, repeat(0)), np.uint64, len(words))
        for lo in range(0, len(values), self.block_words):
            x = values[lo : lo + self.block_words]
            for s, part in enumerate((x, x[(x & np.uint64(1)) == 1])):
                table = self.index.tables[s]
                xs = np.concatenate([self.carry[s], part])
                self.found += table.lookup(xs, self.pw, self.ipw)
                self.carry[s] = xs[len(xs) - table.longest + 1 :] if table.longest > 1 else xs[:0]

    def end_file(self) -> np.ndarray:
        return np.unique(np.concatenate(self.found)) if self.found else np.zeros(0, np.int64)


def scan_contamination(
    paths: Sequence[Path],
    test_items: Sequence[Item],
    config: ContaminationConfig = ContaminationConfig(),
    *,
    full_paths: Sequence[Path] = (),
    texts: Iterable[tuple[str, str]] = (),
    control_items: Sequence[Item] = (),
) -> Verdict:
    """Scan texts and files for the test items; fail when ``min_items`` match (above chance, with
    control items) or the scan is incomplete.

    Args:
        paths: Files or directories the agent controls (the workspace, the sandbox's ``/tmp``),
            walked without following links and read within the caps of ``config``.
        test_items: The hidden test split.
        config: Thresholds and caps.
        full_paths: Files or directories the host wrote (the ``train`` tool's data snapshots):
            read first, every file as text and to its end, with no cap.
        texts: ``(name, text)`` pairs scanned in full before any file: what the agent sent
            through the tools (file contents, commands). The name stands for a file in the evidence.
        control_items: Items drawn like the test split, a whole number of test-sized draws
            (:meth:`ptb_env.benchmarks.base.Benchmark.control_items`), scanned in the same pass:
            their matches per draw are the chance level (``evidence["control"]``).

    Returns:
        A ``"contamination"`` verdict whose evidence names the matched items (the first 20),
        how and in which files each matched, and what was scanned, skipped and capped. It
        fails when ``min_items`` items match, and when the scan is incomplete (a cap hit, an
        unreadable file or folder: ``evidence["incomplete"]``), with a reason that starts
        ``scan incomplete``.

    Example:
        >>> asks = [f"How many cats does Ann {i} keep?" for i in range(3)]
        >>> items = [Item(f"q{i}", ({"role": "user", "content": q},), "2") for i, q in enumerate(asks)]
        >>> v = scan_contamination([], items, texts=[("bash", " ".join(asks))])
        >>> v.passed, v.evidence["matched"]
        (False, 3)
    """
    matched, evidence = find_test_items(
        paths, test_items, config, full_paths=full_paths, texts=texts, control_items=control_items
    )
    reasons = []
    need = min(config.min_items, max(len(test_items), 1))
    chance = evidence.get("control")
    if chance is not None:
        need = max(
            need,
            math.floor(chance["mean"]) + max(config.min_items, math.ceil(config.chance_sd * chance["sd"])),
        )
        chance["needed"] = need
    if len(matched) >= need:
        level = (
            f" (chance level: {chance['mean']:.1f} +- {chance['sd']:.1f})"
            if chance and chance["mean"]
            else ""
        )
        reasons.append(f"{len(matched)} of {len(test_items)} test items occur in the scanned files{level}.")
    if evidence["incomplete"]:
        reasons.append(
            f"scan incomplete: {', '.join(evidence['incomplete'])}; what was not read may hold test "
            "items (caps: ContaminationConfig)."
        )
    return Verdict("contamination", not reasons, " ".join(reasons), evidence)


def find_test_items(
    paths: Sequence[Path],
    test_items: Sequence[Item],
    config: ContaminationConfig = ContaminationConfig(),
    *,
    full_paths: Sequence[Path] = (),
    texts: Iterable[tuple[str, str]] = (),
    control_items: Sequence[Item] = (),
) -> tuple[list[int], dict[str, Any]]:
    """Indices of all the test items found (split order), and the scan's evidence.

    The arguments are :func:`scan_contamination`'s; ``evidence["incomplete"]`` lists the caps
    hit and unreadable entries (empty: everything was read); with control items,
    ``evidence["control"]`` has their matches per test-sized draw (``counts``, ``mean``, ``sd``).
    """
    t0 = time.monotonic()
    n_test = len(test_items)
    draws = len(control_items) // n_test if n_test else 0
    index = _index([*test_items, *control_items[: draws * n_test]], config, n_test)
    stream = _Stream(index, _BLOCK_WORDS)
    log = ReadLog()
    per_file: list[tuple[str, np.ndarray]] = []
    n_texts = n_chars = 0

    def scan(name: str, blocks: Iterable[str]) -> None:
        stream.start_file()
        for block in blocks:
            stream.feed(block)
        found = stream.end_file()
        if len(found):
            per_file.append((name, found))

    for name, text in texts:
        scan(name, split_text(text))
        n_texts, n_chars = n_texts + 1, n_chars + len(text)
    sniff: dict[str, Any] = {"text_suffixes": config.text_suffixes, "binary_share": config.binary_share}
    for name, blocks in read_texts(full_paths, log, all_text=True, **sniff):
        scan(name, blocks)
    caps = {k: getattr(config, k) for k in _CAPS}
    for name, blocks in read_texts(paths, log, **sniff, **caps):
        scan(name, blocks)
    hit = np.zeros(len(index.keys), bool)
    for _, found in per_file:
        hit[found] = True
    share, kind = _scores(index, hit)
    every = np.flatnonzero((kind >= 0) | (share >= config.overlap))
    matched = every[every < n_test]
    shown = matched[:20]
    where: dict[int, list[tuple[float, str]]] = {int(i): [] for i in shown}
    for name, found in per_file:  # where each shown item occurs, file by file
        file_hit = np.zeros_like(hit)
        file_hit[found] = True
        file_share, file_kind = _scores(index, file_hit, np.isin(index.e_item, shown))
        file_share[file_kind >= 0] = 1.0
        for i in shown[file_share[shown] > 0]:
            where[int(i)].append((round(float(file_share[i]), 3), name))
    items = [
        {
            "id": test_items[i].id,
            "how": _HOW[max(int(kind[i]), _NGRAM)],
            "overlap": 1.0 if kind[i] >= 0 else round(float(share[i]), 3),
            "files": [{"file": f, "overlap": s} for s, f in sorted(where[int(i)], reverse=True)[:3]],
        }
        for i in shown
    ]
    evidence = {
        "matched": len(matched),
        "min_items": config.min_items,
        "items": items,
        "test_items": n_test,
        "unscannable_items": int(np.count_nonzero(np.asarray(index.unscannable, int) < n_test)),
        "texts_scanned": n_texts,
        "text_chars_scanned": n_chars,
        **log.evidence(),
        "incomplete": log.incomplete(),
        "seconds": round(time.monotonic() - t0, 3),
    }
    if draws:
        counts = np.bincount((every[every >= n_test] - n_test) // n_test, minlength=draws)
        sd = float(counts.std(ddof=1)) if draws > 1 else 0.0
        evidence["control"] = {
            "items": draws * n_test,
            "counts": counts.tolist(),
            "mean": float(counts.mean()),
            "sd": sd,
        }
    return matched.tolist(), evidence


def _scores(index: _Index, hit: np.ndarray, sel: Any = True) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the share of its n-grams among the ``hit`` keys, and the kind of exact phrase
    (question, id, answer run) hit, -1 for none; ``sel`` limits the entries counted."""
    on = hit[index.e_key] & sel
    n = len(index.items)
    share = np.bincount(index.e_item[on & (index.e_kind == _NGRAM)], minlength=n) / np.maximum(
        index.ngram_total, 1
    )
    kind = np.full(n, -1)
    exact = on & (index.e_kind != _NGRAM)
    kind[index.e_item[exact]] = index.e_kind[exact]
    return share, kind
