"""What a strong agent invents to widen a tiny benchmark's public generator, and the script it runs.

An LLM agent that post-trains for a tiny benchmark reads the generator, sees that it knows a
few dozen names and a handful of wordings, and writes its own: lists of common first names and
world cities, and question wordings composed from natural phrase parts. Nothing here comes
from the held-out vocabulary or the dev-shift split (honesty note: the phrase parts were
written after the held-out wordings had been seen, and like the wordings an LLM writes they
reproduce a few of them by chance; the contamination check measures that chance level).

The ``expert`` baseline writes :func:`data_spec` and :data:`SCRIPT` into its workspace and
runs the script there; ``tests/perf/contamination_false_alarms.py`` uses the same vocabulary.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

#: First names an agent would list (not drawn from the package: no peeking at the held-out file).
COMMON_NAMES = """
Aaron Abigail Ada Adrian Agnes Aisha Alan Albert Alice Amelia Amir Andrea Andrew Angela Anton
Arthur Astrid Aurora Beatrice Bella Benjamin Bianca Boris Bruno Caleb Camila Carl Carmen Caroline
Charles Chloe Chris Daniel Daniela David Diana Diego Dora Edgar Edith Elena Elias Eliza Emil Emily
Enzo Eric Erik Esther Ethan Eva Ezra Fatima Felix Fiona Frank Freya Gabriel George Gina Grace
Hannah Harry Hector Helen Henrik Henry Ida Igor Irene Isaac Isabel Ivan Jacob James Jana Javier
Jonas Jorge Joseph Julia Julian Karen Karl Kate Kevin Lara Laura Lea Leon Lorenzo Louis Luca Lucas
Luis Luna Lydia Magnus Mara Maria Mark Martin Mary Mateo Matteo Michael Miguel Milan Mira Nadia
Nathan Nico Noor Olga Oliver Olivia Oscar Pedro Peter Petra Philip Rachel Rafael Rebecca Robert
Rosa Ruth Samuel Sara Sebastian Selin Simon Sofia Sophie Stella Stefan Susan Talia Tanya Teresa
Thomas Tim Tobias Ursula Valentina Vera Victor Viktor Vincent Walter Wanda William Xavier Yara Yasmin
Yuki Yusuf Zara Zoe
""".split()
COMMON_CITIES = """
Amsterdam Ankara Athens Auckland Baghdad Bangkok Barcelona Beijing Beirut Berlin Bern Boston
Brussels Bucharest Budapest Cairo Calgary Casablanca Chicago Copenhagen Dakar Delhi Denver Doha
Dubai Dublin Edinburgh Florence Frankfurt Geneva Hamburg Hanoi Havana Helsinki Istanbul Jakarta
Karachi Kiev Kyoto Lagos Lima Lisbon London Lyon Madrid Manila Marseille Melbourne Mexico Miami
Milan Montreal Moscow Mumbai Munich Nairobi Naples Oslo Ottawa Paris Perth Porto Prague Quito Riga
Rome Santiago Seattle Seoul Shanghai Singapore Sofia Stockholm Sydney Taipei Tokyo Toronto Tunis
Valencia Vancouver Venice Vienna Warsaw Zagreb Zurich
""".split()

ARITH_PARTS = (
    (
        "",
        "So ",
        "Now ",
        "Then ",
        "Finally ",
        "In the end ",
        "After that ",
        "Tell me ",
        "Question: ",
        "Please say ",
    ),
    (
        "how many {obj} does {name} have",
        "how many {obj} does {name} own",
        "how many {obj} are left with {name}",
        "what is the number of {obj} {name} has",
        "how many {obj} does {name} hold",
        "how many {obj} remain for {name}",
        "how many {obj} has {name} got",
        "what number of {obj} is {name} left with",
        "how many {obj} does {name} keep",
        "what is the total of {obj} that {name} has",
        "how many {obj} are with {name}",
        "what count of {obj} does {name} have",
        "how many {obj} does {name} end with",
        "how many {obj} stay with {name}",
        "how many {obj} belong to {name}",
    ),
    (
        "?",
        " now?",
        " at the end?",
        " after all that?",
        " in the end?",
        " at the finish?",
        " left?",
        " in total?",
        " after everything?",
        " by the end?",
        " at this point?",
        " altogether?",
        " once it is over?",
    ),
)
TOOLS_PARTS = {
    "get_weather": (
        "what is the weather in {city} in {unit}",
        "weather for {city} in {unit}",
        "how is the weather in {city}, in {unit}",
        "tell me the {unit} temperature in {city}",
    ),
    "set_alarm": (
        "set an alarm at {hour} {minute}",
        "wake me at {hour} {minute}",
        "alarm for {hour} {minute}",
        "set my alarm to {hour} {minute}",
    ),
    "send_message": (
        "send {to} the message {text}",
        "message {to} saying {text}",
        "text {to} {text}",
        "send {text} to {to}",
    ),
    "book_flight": (
        "book a flight from {origin} to {destination}",
        "fly me from {origin} to {destination}",
        "get me a flight from {origin} to {destination}",
        "book a plane from {origin} to {destination}",
    ),
    "convert_currency": (
        "convert {amount} dollars to {to}",
        "change {amount} dollars into {to}",
        "how much is {amount} dollars in {to}",
        "convert {amount} dollars into {to}",
    ),
    "buy_item": (
        "buy {count} {item}",
        "order {count} {item}",
        "get me {count} {item}",
        "purchase {count} {item}",
    ),
    "call_person": ("call {name}", "phone {name}", "ring {name}", "give {name} a call", "dial {name}"),
    "set_timer": (
        "set a timer for {minutes} minutes",
        "start a {minutes} minute timer",
        "time {minutes} minutes",
        "count down {minutes} minutes",
    ),
    "translate": (
        "translate {word} into {language}",
        "translate {word} to {language}",
        "say {word} in {language}",
        "what is {word} in {language}",
    ),
    "get_time": (
        "what time is it in {city}",
        "tell me the time in {city}",
        "what is the time in {city}",
        "local time in {city}",
    ),
    "add_numbers": ("add {a} and {b}", "what is {a} plus {b}", "sum {a} and {b}", "add up {a} and {b}"),
    "play_song": (
        "play song {number}",
        "play track {number}",
        "put on song {number}",
        "play song number {number}",
    ),
}
TOOLS_WRAP = (
    (
        "",
        "Please ",
        "Can you ",
        "Could you ",
        "I want you to ",
        "Hey, ",
        "Quick: ",
        "Kindly ",
        "I need you to ",
    ),
    (".", "?", " please.", ", thanks.", " for me.", " now.", " please?", " for me?", "!"),
)
FACTS_PARTS = {
    "city": (
        "where does {name} live",
        "in which city does {name} live",
        "which city does {name} live in",
        "what city is {name} from",
        "where is the home of {name}",
        "which city is {name} a resident of",
    ),
    "job": (
        "what is the job of {name}",
        "what does {name} do",
        "what is {name}'s job",
        "which job does {name} do",
        "what profession does {name} have",
        "how does {name} make a living",
    ),
    "colour": (
        "what is the favourite colour of {name}",
        "which colour does {name} like",
        "what colour does {name} like best",
        "which colour is {name}'s favourite",
        "what is {name}'s favourite color",
    ),
    "item": (
        "what does {name} own",
        "which object does {name} own",
        "what object belongs to {name}",
        "what is {name}'s item",
        "which thing belongs to {name}",
        "what does {name} have",
    ),
}
FACTS_WRAP = (("", "Tell me: ", "Question: ", "Quick question: ", "Do you know "), ("?", "? Pick one.", "?"))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def templates(benchmark: str, rng: random.Random | None = None) -> dict[str, list[str]]:
    """Every invented template of a benchmark's kind (``rng``: a random half of them, per kind)."""
    benchmark = family(benchmark)
    if benchmark == "tiny-arith":
        every = {"question": [_cap(a + b) + c for a, b, c in itertools.product(*ARITH_PARTS)]}
    elif benchmark == "tiny-tools":
        every = {f: [_cap(a + core) + b for a, b in itertools.product(*TOOLS_WRAP) for core in cores]
                 for f, cores in TOOLS_PARTS.items()}  # fmt: skip
    else:
        every = {f: [_cap(a + core) + b for a, b in itertools.product(*FACTS_WRAP) for core in cores]
                 for f, cores in FACTS_PARTS.items()}  # fmt: skip
    if rng is None:
        return every
    return {k: rng.sample(v, max(1, len(v) // 2)) for k, v in every.items()}


def family(benchmark: str) -> str:
    """The benchmark a version belongs to: ``tiny-arith-v2`` -> ``tiny-arith``."""
    head, _, version = benchmark.rpartition("-v")
    return head if head and version.isdigit() else benchmark


def extensions(benchmark: str, rng: random.Random, share: float = 0.5) -> dict[str, Any]:
    """Fields of the benchmark's vocabulary to extend, with invented values (``share`` of each list).

    Keys are the vocabulary's field names (``names``, ``questions``, ``templates``, ``pools``);
    a mapping extends the mapping of that field key by key.
    """
    own = {k: rng.sample(v, max(1, int(len(v) * share))) for k, v in templates(benchmark).items()}
    names = sorted(rng.sample(COMMON_NAMES, int(len(COMMON_NAMES) * share)))
    kind = family(benchmark)
    if kind == "tiny-arith":
        return {"names": names, "questions": own["question"]}
    if kind == "tiny-tools":
        cities = sorted(rng.sample(COMMON_CITIES, int(len(COMMON_CITIES) * share)))
        return {"templates": own, "pools": {"city": cities, "name": names}}
    if kind == "tiny-facts":
        return {"questions": own}
    raise ValueError(f"No invented vocabulary for {benchmark!r}.")


def widen(vocab: Any, extend: Mapping[str, Any]) -> Any:
    """``vocab`` (a benchmark's vocabulary dataclass) with each field named in ``extend`` extended
    by its values (:func:`extensions`); a mapping field is extended key by key."""

    def grow(old: Any, new: Any) -> Any:
        if isinstance(old, Mapping):
            return {k: tuple(old.get(k, ())) + tuple(new.get(k, ())) for k in {*old, *new}}
        return tuple(old) + tuple(new)

    return replace(vocab, **{k: grow(getattr(vocab, k), v) for k, v in extend.items()})


def data_spec(
    benchmark: str, n: int, seed: int, options: dict[str, Any], share: float = 1.0
) -> dict[str, Any]:
    """What :data:`SCRIPT` reads: half of ``n`` examples from the generator with ``options``, half
    with the vocabulary extended by :func:`extensions` as well."""
    return {
        "benchmark": benchmark,
        "n": n,
        "seed": seed,
        "options": options,
        "extend": extensions(benchmark, random.Random(seed), share),
    }


#: The data script the expert writes into its workspace: ``python make_data.py SPEC OUT``.
SCRIPT = """\
import json, random, sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ptb_env.benchmarks import get_benchmark
from ptb_env.benchmarks.base import write_jsonl

spec = json.load(open(sys.argv[1]))
bench = get_benchmark(spec["benchmark"])
known = bench.generator_options()
options = {k: known[k].parse(v) for k, v in spec["options"].items()}
vocab = replace(bench.public_vocab(), **options)


def extend(old, new):
    if isinstance(old, Mapping):
        return {k: tuple(old.get(k, ())) + tuple(new.get(k, ())) for k in {*old, *new}}
    return tuple(old) + tuple(new)


wide = replace(vocab, **{k: extend(getattr(vocab, k), v) for k, v in spec["extend"].items()})
n, seed = spec["n"], spec["seed"]
items = bench.make_items(n // 2, seed, "train", vocab) + bench.make_items(n - n // 2, seed, "wide", wide)
random.Random(seed).shuffle(items)
write_jsonl(Path(sys.argv[2]), (it.chat_example() for it in items))
print(f"wrote {len(items)} examples to {sys.argv[2]}")
"""
