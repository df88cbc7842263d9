"""tiny-tools: BFCL-style function calling; the answer is one JSON call.

``tiny-tools`` (v1) offers 2-3 candidate functions in every split. ``tiny-tools-v2`` tests a
harder structure than its generator emits by default: 4-6 candidates and, in half of the
requests, a sentence of chatter with a value of the same kind as an argument (a city, a person, a
number) that is not one. The generator emits that structure when asked (``--candidates 2-6
--chatter 0.5``), and the dev-shift split shows it, so a better recipe can learn it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ptb_env.benchmarks.base import GeneratorOption, Item, SyntheticBenchmark, int_range, probability
from ptb_env.tiny import shift, world
from ptb_env.tiny.phrasing import TEMPLATES, TOOLS_CHATTER, function_spec
from ptb_env.tiny.phrasing import TOOLS_SYSTEM as SYSTEM


@dataclass(frozen=True)
class ToolsVocab:
    """Value pools and request templates a split draws on (held out for test)."""

    pools: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(world.POOLS))
    templates: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(TEMPLATES))
    made_up_names: bool = True
    """Draw half of the people and city names from ``world.made_up_name`` (public splits only)."""
    candidates: tuple[int, ...] = (2, 3)
    """Numbers of candidate functions a request draws from."""
    chatter: float = 0.0
    """Chance that a request has a sentence of chatter with a value that is no argument."""


def call_json(name: str, arguments: Mapping[str, Any]) -> str:
    """Canonical JSON text of a call."""
    return json.dumps({"name": name, "arguments": dict(arguments)}, ensure_ascii=False)


def make_item(rng: random.Random, vocab: ToolsVocab, item_id: str) -> Item:
    """One request with candidate functions (``vocab.candidates`` of them) and the expected call."""
    fns = rng.sample([f for f in world.FUNCTIONS if f.name in vocab.templates], rng.choice(vocab.candidates))
    fn = fns[0]
    rng.shuffle(fns)
    args: dict[str, Any] = {}
    for p in fn.params:
        value = world.sample_value(rng, p, vocab.pools, vocab.made_up_names)
        while value in args.values():  # e.g. a flight from a city to itself
            value = world.sample_value(rng, p, vocab.pools, vocab.made_up_names)
        args[p.name] = value
    request = rng.choice(vocab.templates[fn.name]).format(**args)
    meta: dict[str, Any] = {"function": fn.name, "n_candidates": len(fns)}
    if vocab.chatter:
        meta["chatter"] = rng.random() < vocab.chatter
    if meta.get("chatter"):
        chatter = draw_chatter(rng, vocab, set(map(str, args.values())))
        request = f"{chatter} {request}" if rng.random() < 0.5 else f"{request} {chatter}"
    system = SYSTEM + "\n" + "\n".join(json.dumps(function_spec(f)) for f in fns)
    answer = call_json(fn.name, args)
    return Item(
        id=item_id,
        messages=({"role": "system", "content": system}, {"role": "user", "content": request}),
        answer=answer,
        target=answer,
        meta=meta,
    )


def draw_chatter(rng: random.Random, vocab: ToolsVocab, taken: set[str]) -> str:
    """A sentence of chatter whose values (drawn from ``vocab``'s pools) are none of ``taken``."""

    def fresh(draw: Any) -> str:
        value = str(draw())
        while value in taken:
            value = str(draw())
        taken.add(value)
        return value

    def named(pool: str) -> str:  # a person or a city, made up half of the time where allowed
        if vocab.made_up_names and rng.random() < 0.5:
            return world.made_up_name(rng)
        return rng.choice(vocab.pools[pool])

    template = rng.choice(TOOLS_CHATTER)
    values = {
        "city": lambda: fresh(lambda: named("city")),
        "name": lambda: fresh(lambda: named("name")),
        "n": lambda: fresh(lambda: rng.randint(2, 60)),
        "item": lambda: fresh(lambda: rng.choice(vocab.pools["item"])),
    }
    return template.format(**{k: draw() for k, draw in values.items() if "{" + k + "}" in template})


def _candidates(text: Any) -> tuple[int, ...]:
    counts = int_range(text)
    if counts[-1] > len(world.FUNCTIONS):
        raise ValueError(
            f"Expect at most {len(world.FUNCTIONS)} candidates (the catalogue's size), actually got {text!r}."
        )
    return counts


_FENCE = re.compile(r"```(?:json)?|</?tool_call>")


def parse_call(completion: str) -> tuple[str, dict[str, Any]] | None:
    """The first JSON object with ``name`` and an ``arguments`` object in a reply, or None.

    Tolerates surrounding text, code fences and ``<tool_call>`` tags; objects that
    are not valid JSON are skipped.
    """
    text = _FENCE.sub(" ", completion)
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            args = obj.get("arguments", obj.get("parameters", {}))
            if isinstance(args, dict):
                return obj["name"], args
    return None


def _same_value(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(expected, int):
        try:
            return float(got) == expected
        except (TypeError, ValueError):
            return False
    return isinstance(got, str) and got.strip().casefold() == str(expected).strip().casefold()


class TinyTools(SyntheticBenchmark):
    """BFCL-style function calling (simple / multiple categories).

    Correct when the reply's first call has the expected function name and exactly
    the expected arguments (strings compared case-insensitively, numbers numerically).
    """

    name = "tiny-tools"
    description = "Pick the right function from the system prompt and call it as JSON (BFCL-style)."
    skill = "function calling"
    max_new_tokens = 64

    def make_item(self, rng: random.Random, vocab: Any, item_id: str) -> Item:
        return make_item(rng, vocab, item_id)

    def public_vocab(self) -> ToolsVocab:
        return ToolsVocab()

    def heldout_vocab(self, spec: Mapping[str, Any]) -> ToolsVocab:
        pools = {**world.POOLS, **{k: tuple(v) for k, v in spec["pools"].items()}}
        templates = {k: tuple(v) for k, v in spec["templates"].items()}
        return ToolsVocab(pools=pools, templates=templates, made_up_names=False)

    def shift_vocab(self) -> ToolsVocab:
        return ToolsVocab(
            pools={**world.POOLS, **shift.TOOLS_POOLS},
            templates=dict(shift.TOOLS_TEMPLATES),
            made_up_names=False,
        )

    def extract(self, completion: str) -> tuple[str, dict[str, Any]] | None:
        return parse_call(completion)

    def score(self, item: Item, completion: str) -> float:
        got = parse_call(completion)
        if got is None:
            return 0.0
        expected = json.loads(item.answer)
        name, args = got
        if name != expected["name"] or set(args) != set(expected["arguments"]):
            return 0.0
        return float(all(_same_value(v, args[k]) for k, v in expected["arguments"].items()))


class TinyToolsV2(TinyTools):
    """tiny-tools with headroom: the hidden test (and dev-shift) requests offer 4-6 candidate
    functions and, half of the time, a sentence of chatter with a value that is no argument; the
    generator's default is v1's structure (2-3 candidates, no chatter) and :meth:`generator_options`
    reach the rest."""

    name = "tiny-tools-v2"
    description = (
        "Pick the right one of 4-6 functions and call it as JSON, some requests with chatter around "
        "them (BFCL-style)."
    )
    heldout_key = "tiny-tools"
    SHIFTED_CANDIDATES = (4, 5, 6)
    SHIFTED_CHATTER = 0.5
    """Structure of the shifted splits (test and dev-shift): candidate counts, chatter chance."""
    STRUCTURE_OPTIONS = {"candidates": "2-6", "chatter": 0.5}

    def generator_options(self) -> dict[str, GeneratorOption]:
        return {
            "candidates": GeneratorOption(
                _candidates, "candidate functions per request, a range such as 2-6 (default 2-3)"
            ),
            "chatter": GeneratorOption(
                probability,
                "chance of a sentence of chatter with a value that is no argument (default 0)",
            ),
        }

    def heldout_vocab(self, spec: Mapping[str, Any]) -> ToolsVocab:
        vocab = super().heldout_vocab(spec)
        return replace(vocab, candidates=self.SHIFTED_CANDIDATES, chatter=self.SHIFTED_CHATTER)

    def shift_vocab(self) -> ToolsVocab:
        vocab = super().shift_vocab()
        return replace(vocab, candidates=self.SHIFTED_CANDIDATES, chatter=self.SHIFTED_CHATTER)
