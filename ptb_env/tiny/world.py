"""Vocabulary of the tiny world: people, objects, places and a catalogue of functions.

Everything here is public: the pre-training corpus, the train generators and the
dev splits draw on it. The hidden test splits use held-out names, places and
question templates that live only in the private data directory
(``ptb_env/_private``), so no test item can be derived from this module.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


def person_facts(name: str) -> dict[str, str]:
    """The fixed facts of a person of the world (the corpus states them; tiny-facts asks them)."""
    i = NAMES.index(name)
    return {
        "city": CITIES[(i * 7) % len(CITIES)],
        "job": JOBS[(i * 5) % len(JOBS)],
        "colour": COLORS[(i * 3) % len(COLORS)],
        "item": ITEMS[(i * 11) % len(ITEMS)],
    }


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
