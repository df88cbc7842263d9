"""Vocabulary of the tiny world: people, objects, places and a catalogue of functions.

Everything here is public: the pre-training corpus, the train generators and the
dev splits draw on it. The hidden test splits use held-out names, places and
question templates that live only in the private data directory
(``ptb_env/_private``), so no test item can be derived from this module. The people
whom tiny-facts tests, and their facts, are held out there too: :func:`person_facts`
knows them only where the private directory is readable (the host, not the sandbox).
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ptb_env.paths import PRIVATE_DIR

#: The people of the world: the corpus, tiny-arith and tiny-tools draw on all of them; tiny-facts
#: asks train and dev about those of ``PEOPLE_FACTS`` (its test split: see the private held-out file).
NAMES = (
    "Mia",
    "Leo",
    "Ava",
    "Noah",
    "Emma",
    "Liam",
    "Zoe",
    "Owen",
    "Lily",
    "Jack",
    "Ella",
    "Sam",
    "Ruby",
    "Max",
    "Nora",
    "Ben",
    "Ivy",
    "Tom",
    "Lucy",
    "Dan",
    "Anna",
    "Paul",
    "Rosa",
    "Hugo",
    "Clara",
    "Omar",
    "Sara",
    "Finn",
    "Maya",
    "Eli",
    "Jade",
    "Ravi",
    "Kim",
    "Alex",
    "Nina",
    "Theo",
    "Lena",
    "Marco",
    "Iris",
    "Adam",
)

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kl", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "", "n", "r", "l", "s")


def made_up_name(rng: random.Random) -> str:
    """A pronounceable made-up name (``Zoukan``, ``Bira``).

    The corpus and the train generators use many of them besides ``NAMES``, so that
    models learn that names (of people and places) are arbitrary strings to copy.
    """
    n = rng.choice((2, 2, 3))
    return "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(n)
    ).capitalize()


def pronouns(name: str) -> tuple[str, str]:
    """Subject and object pronoun of a person (fixed per name)."""
    return ("she", "her") if sum(map(ord, name)) % 2 == 0 else ("he", "him")


OBJECTS = (
    "apples",
    "pens",
    "books",
    "coins",
    "marbles",
    "cards",
    "eggs",
    "stamps",
    "shells",
    "cookies",
    "stickers",
    "pencils",
    "candles",
    "cups",
    "plums",
    "buttons",
    "rocks",
    "balloons",
    "keys",
    "toys",
)
CONTAINERS = ("boxes", "bags", "jars", "baskets", "crates", "packs")

CITIES = (
    "Oslo",
    "Paris",
    "Lima",
    "Rome",
    "Cairo",
    "Delhi",
    "Tokyo",
    "Quito",
    "Dakar",
    "Sydney",
    "Berlin",
    "Madrid",
    "Vienna",
    "Dublin",
    "Lisbon",
    "Prague",
    "Seoul",
    "Hanoi",
    "Nairobi",
    "Bogota",
    "Athens",
    "Boston",
    "Denver",
    "Toronto",
    "Havana",
    "Manila",
    "Riga",
    "Tunis",
    "Accra",
    "Porto",
)
JOBS = ("baker", "farmer", "pilot", "doctor", "teacher", "painter", "nurse", "cook", "singer")
COLORS = ("red", "blue", "green", "yellow", "black", "white", "orange", "purple")
ITEMS = ("lamp", "chair", "bike", "phone", "jacket", "clock", "kettle", "desk", "camera", "radio")
CURRENCIES = ("USD", "EUR", "JPY", "GBP", "INR", "CHF")
UNITS = ("celsius", "fahrenheit")
LANGUAGES = ("French", "Spanish", "German", "Italian", "Dutch", "Greek")
WORDS = ("hello", "thanks", "goodbye", "sorry", "welcome", "congrats", "goodnight")


@dataclass(frozen=True)
class Param:
    """One argument of a catalogue function.

    Attributes:
        name: argument name.
        kind: ``"string"`` or ``"integer"``.
        pool: name of the value pool (``"city"``, ``"name"``, ...) or ``"int"``.
        description: what the argument means, shown to the model.
        low: smallest integer value (``kind == "integer"`` only).
        high: largest integer value (``kind == "integer"`` only).
    """

    name: str
    kind: str
    pool: str
    description: str
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class Function:
    """A function of the tiny tool-calling world (BFCL-style)."""

    name: str
    description: str
    params: tuple[Param, ...]


def _p(name: str, pool: str, description: str, low: int = 0, high: int = 0) -> Param:
    return Param(name, "integer" if pool == "int" else "string", pool, description, low, high)


FUNCTIONS = (
    Function(
        "get_weather",
        "Get the current weather in a city.",
        (_p("city", "city", "the city"), _p("unit", "unit", "celsius or fahrenheit")),
    ),
    Function(
        "set_alarm",
        "Set an alarm clock.",
        (_p("hour", "int", "hour of the day", 1, 12), _p("minute", "int", "minute", 0, 59)),
    ),
    Function(
        "send_message",
        "Send a text message to a person.",
        (_p("to", "name", "who gets the message"), _p("text", "word", "the message text")),
    ),
    Function(
        "book_flight",
        "Book a flight between two cities.",
        (_p("origin", "city", "departure city"), _p("destination", "city", "arrival city")),
    ),
    Function(
        "convert_currency",
        "Convert an amount of money to another currency.",
        (_p("amount", "int", "how much money", 1, 500), _p("to", "currency", "target currency")),
    ),
    Function(
        "buy_item",
        "Buy a number of items in the shop.",
        (_p("item", "item", "what to buy"), _p("count", "int", "how many", 1, 20)),
    ),
    Function("call_person", "Start a phone call with a person.", (_p("name", "name", "who to call"),)),
    Function("set_timer", "Start a countdown timer.", (_p("minutes", "int", "length in minutes", 1, 90),)),
    Function(
        "translate",
        "Translate a word into another language.",
        (_p("word", "object", "the word"), _p("language", "language", "target language")),
    ),
    Function("get_time", "Get the local time in a city.", (_p("city", "city", "the city"),)),
    Function(
        "add_numbers",
        "Add two numbers.",
        (_p("a", "int", "first number", 0, 99), _p("b", "int", "second number", 0, 99)),
    ),
    Function(
        "play_song",
        "Play a song by its number in the playlist.",
        (_p("number", "int", "song number", 1, 50),),
    ),
)
FUNCTIONS_BY_NAME = {f.name: f for f in FUNCTIONS}

#: Public value pools; the private held-out file supplies other cities and names for test.
POOLS: dict[str, tuple[str, ...]] = {
    "city": CITIES,
    "name": NAMES,
    "unit": UNITS,
    "currency": CURRENCIES,
    "item": ITEMS,
    "object": OBJECTS,
    "language": LANGUAGES,
    "word": WORDS,
}


#: The facts of the people whom train and dev ask about (the other ``NAMES`` are held out).
PEOPLE_FACTS: dict[str, dict[str, str]] = {
    "Mia": {"city": "Oslo", "job": "baker", "colour": "red", "item": "lamp"},
    "Leo": {"city": "Quito", "job": "painter", "colour": "yellow", "item": "chair"},
    "Ava": {"city": "Lisbon", "job": "farmer", "colour": "orange", "item": "bike"},
    "Noah": {"city": "Boston", "job": "nurse", "colour": "blue", "item": "phone"},
    "Emma": {"city": "Accra", "job": "pilot", "colour": "black", "item": "jacket"},
    "Liam": {"city": "Delhi", "job": "cook", "colour": "purple", "item": "clock"},
    "Zoe": {"city": "Vienna", "job": "doctor", "colour": "green", "item": "kettle"},
    "Owen": {"city": "Bogota", "job": "singer", "colour": "white", "item": "desk"},
    "Lily": {"city": "Riga", "job": "teacher", "colour": "red", "item": "camera"},
    "Jack": {"city": "Rome", "job": "baker", "colour": "yellow", "item": "radio"},
    "Ella": {"city": "Berlin", "job": "painter", "colour": "orange", "item": "lamp"},
    "Sam": {"city": "Hanoi", "job": "farmer", "colour": "blue", "item": "chair"},
    "Ruby": {"city": "Havana", "job": "nurse", "colour": "black", "item": "bike"},
    "Max": {"city": "Paris", "job": "pilot", "colour": "purple", "item": "phone"},
    "Nora": {"city": "Dakar", "job": "cook", "colour": "green", "item": "jacket"},
    "Ben": {"city": "Prague", "job": "doctor", "colour": "white", "item": "clock"},
    "Ivy": {"city": "Denver", "job": "singer", "colour": "red", "item": "kettle"},
    "Tom": {"city": "Porto", "job": "teacher", "colour": "yellow", "item": "desk"},
    "Lucy": {"city": "Tokyo", "job": "baker", "colour": "orange", "item": "camera"},
    "Dan": {"city": "Dublin", "job": "painter", "colour": "blue", "item": "radio"},
    "Anna": {"city": "Athens", "job": "farmer", "colour": "black", "item": "lamp"},
    "Paul": {"city": "Tunis", "job": "nurse", "colour": "purple", "item": "chair"},
    "Rosa": {"city": "Cairo", "job": "pilot", "colour": "green", "item": "bike"},
    "Hugo": {"city": "Madrid", "job": "cook", "colour": "white", "item": "phone"},
    "Clara": {"city": "Nairobi", "job": "doctor", "colour": "red", "item": "jacket"},
    "Omar": {"city": "Manila", "job": "singer", "colour": "yellow", "item": "clock"},
    "Sara": {"city": "Lima", "job": "teacher", "colour": "orange", "item": "kettle"},
    "Finn": {"city": "Sydney", "job": "baker", "colour": "blue", "item": "desk"},
    "Maya": {"city": "Seoul", "job": "painter", "colour": "black", "item": "camera"},
    "Eli": {"city": "Toronto", "job": "farmer", "colour": "purple", "item": "radio"},
}


def person_facts(name: str) -> dict[str, str]:
    """The fixed facts of a person of the world (the corpus states them; tiny-facts asks them).

    Raises:
        KeyError: ``name`` is no person with facts, or one of the held-out people whose
            facts are not readable here (inside the sandbox).
    """
    facts = PEOPLE_FACTS.get(name) or held_out_facts().get(name)
    if facts is None:
        raise KeyError(f"No facts of {name!r} here: the people of PEOPLE_FACTS have public facts.")
    return dict(facts)


@functools.cache
def held_out_facts() -> dict[str, dict[str, str]]:
    """The facts of the people whom the tiny-facts test split asks about (held out).

    Read from the private held-out file; empty where that file is hidden (the sandbox).
    """
    try:
        heldout = json.loads((PRIVATE_DIR / "heldout.json").read_text(encoding="utf-8"))
        people = heldout["tiny-facts"]["people"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(n): {str(k): str(v) for k, v in f.items()} for n, f in people.items()}


#: The pool each fact is drawn from (tiny-facts draws its wrong choices from it).
FACT_POOLS: dict[str, tuple[str, ...]] = {"city": CITIES, "job": JOBS, "colour": COLORS, "item": ITEMS}


#: Pools whose values are names; with ``made_up=True`` half of their values are made up.
NAME_POOLS = frozenset({"city", "name"})


def sample_value(
    rng: random.Random, param: Param, pools: Mapping[str, Sequence[str]] | None = None, made_up: bool = False
) -> str | int:
    """A value for a function argument: an integer in range, or a string from its pool."""
    if param.kind == "integer":
        return rng.randint(param.low, param.high)
    if made_up and param.pool in NAME_POOLS and rng.random() < 0.5:
        return made_up_name(rng)
    return rng.choice((pools or POOLS)[param.pool])
