"""How the tiny world is put into words: stories, questions, requests and the tiny benchmarks' prompts.

The pre-training corpus (``ptb_env.tiny.corpus``) and the tiny benchmarks
(``ptb_env.benchmarks.arith``, ``ptb_env.benchmarks.tools``) both draw on these
templates, so a base model pre-trained on the corpus knows the world as the
benchmarks describe it; the tokenizer covers the prompts' words. Only public
phrasing lives here: the held-out templates of the test splits are private
(``ptb_env/_private``).
"""

from __future__ import annotations

import random
from typing import Any

from ptb_env.tiny import world

#: The prompt of tiny-arith, after each problem.
ARITH_INSTRUCTION = "Solve the problem step by step, then give the final answer after ####."

#: Sentences of a story in which a quantity changes: a start, then additions and subtractions.
START = (
    "{name} has {a} {obj}.",
    "{name} owns {a} {obj}.",
    "{name} starts the day with {a} {obj}.",
)
START_MUL = (
    "{name} has {a} {cont} with {b} {obj} in each.",
    "{name} buys {a} {cont} of {obj}. Each one holds {b} {obj}.",
)
ADD = (
    "{Sub} buys {b} more.",
    "{Sub} finds {b} more {obj}.",
    "A friend gives {obj_p} {b} more {obj}.",
    "Then {sub} gets {b} more.",
)
SUB = (
    "{Sub} gives {b} to {other}.",
    "{Sub} loses {b} {obj}.",
    "{Sub} sells {b} of them.",
    "Then {sub} uses {b} {obj}.",
)
#: Sentences about someone else that leave the asked quantity alone (tiny-arith-v2's distractors).
DISTRACTORS = (
    "{other} has {c} {obj}.",
    "{other} buys {c} {obj} too.",
    "{other} owns {c} {cont} of {obj}.",
    "{other} finds {c} {obj2}.",
    "{other} gives {c} {obj2} away.",
)
#: Questions about a story's end (tiny-arith's public splits; the corpus asks them too).
QUESTIONS = (
    "How many {obj} does {name} have now?",
    "How many {obj} does {name} have at the end?",
    "How many {obj} does {name} end up with?",
    "After that, how many {obj} does {name} have?",
    "How many {obj} are with {name} now?",
    "Find how many {obj} {name} has left.",
)


def draw_story(
    rng: random.Random, name: str, other: str, obj: str, n_ops: int | None = None
) -> tuple[list[str], list[str], int]:
    """A story in which a quantity changes: its sentences, the sums, and the final value.

    The story starts with a quantity (or a product of containers and contents) and
    then changes it by additions and subtractions. ``n_ops`` counts every
    operation, a starting multiplication included; ``None`` draws 1-3 changes after
    the start. The pre-training corpus tells the same stories in prose.
    """
    sub, obj_p = world.pronouns(name)
    sentences: list[str] = []
    sums: list[str] = []
    if rng.random() < 0.35:
        a, b = rng.randint(2, 6), rng.randint(2, 6)
        cont = rng.choice(world.CONTAINERS)
        sentences.append(rng.choice(START_MUL).format(name=name, a=a, b=b, cont=cont, obj=obj))
        value = a * b
        sums.append(f"{a} * {b} = {value}")
    else:
        value = rng.randint(2, 20)
        sentences.append(rng.choice(START).format(name=name, a=value, obj=obj))
    for _ in range(rng.randint(1, 3) if n_ops is None else n_ops - len(sums)):
        if value > 1 and rng.random() < 0.5:
            b = rng.randint(1, min(12, value - 1))
            template, new = rng.choice(SUB), value - b
            sums.append(f"{value} - {b} = {new}")
        else:
            b = rng.randint(1, 12)
            template, new = rng.choice(ADD), value + b
            sums.append(f"{value} + {b} = {new}")
        sentences.append(
            template.format(Sub=sub.capitalize(), sub=sub, obj_p=obj_p, b=b, obj=obj, other=other)
        )
        value = new
    return sentences, sums, value


#: The system prompt of tiny-tools, before the candidate functions (one JSON line each).
TOOLS_SYSTEM = (
    'You can call these functions. Reply with exactly one call as JSON: {"name": ..., "arguments": {...}}.'
)

#: Public request templates per function (train and dev).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "get_weather": (
        "What is the weather in {city} in {unit}?",
        "Tell me the weather for {city}, in {unit} please.",
        "Is it warm in {city}? Answer in {unit}.",
    ),
    "set_alarm": (
        "Set an alarm for {hour} {minute}.",
        "Wake me up at hour {hour}, minute {minute}.",
        "Alarm at {hour} {minute} please.",
    ),
    "send_message": (
        "Send {to} the message {text}.",
        "Text {to} and say {text}.",
        "Tell {to} {text} by message.",
    ),
    "book_flight": (
        "Book a flight from {origin} to {destination}.",
        "I want to fly from {origin} to {destination}.",
        "Find me a plane from {origin} to {destination}.",
    ),
    "convert_currency": (
        "Convert {amount} dollars to {to}.",
        "How much is {amount} dollars in {to}?",
        "Change {amount} dollars into {to}.",
    ),
    "buy_item": (
        "Buy {count} of the {item}.",
        "I need {count} {item} from the shop.",
        "Order {count} {item}.",
    ),
    "call_person": ("Call {name} for me.", "Phone {name} now.", "I want to talk to {name} on the phone."),
    "set_timer": (
        "Start a timer for {minutes} minutes.",
        "Set a {minutes} minute timer.",
        "Remind me in {minutes} minutes.",
    ),
    "translate": (
        "Translate {word} into {language}.",
        "How do you say {word} in {language}?",
        "Say {word} in {language}.",
    ),
    "get_time": ("What time is it in {city}?", "Tell me the local time in {city}.", "Clock time in {city}?"),
    "add_numbers": ("Add {a} and {b}.", "What is the sum of {a} and {b}?", "What is {a} plus {b}?"),
    "play_song": (
        "Play song number {number}.",
        "Put on song {number} from the playlist.",
        "Start track {number}.",
    ),
}


#: Chatter around a request (tiny-tools-v2): a sentence with a value of the same kind as the
#: call's arguments (a city, a person, a number, an item) that is not an argument.
TOOLS_CHATTER = (
    "I just got back from {city}.",
    "My friend {name} told me about you.",
    "{name} and I are planning a trip to {city}.",
    "It is {n} degrees outside today.",
    "I have {n} minutes before my next meeting.",
    "My old {item} broke last week.",
    "{name} says hi.",
    "I was born in {city}, {n} years ago.",
)

#: How the corpus states a person's fact (tiny-facts-v2 states another person's fact before
#: some questions).
FACT_STATEMENTS = {
    "city": "{name} lives in {value}.",
    "job": "{name} works as a {value}.",
    "colour": "The favourite colour of {name} is {value}.",
    "item": "{name} owns a {value}.",
}


def function_spec(fn: world.Function) -> dict[str, Any]:
    """The JSON description of a function shown in the system prompt."""
    return {
        "name": fn.name,
        "description": fn.description,
        "parameters": {p.name: p.kind for p in fn.params},
    }
