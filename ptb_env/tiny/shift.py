"""The dev-shift vocabulary: a third set of names, places and wordings for the shifted dev splits.

The hidden test split of each tiny benchmark is drawn from held-out names, places and
question wordings (private) that the public generator never emits, so a checkpoint's
in-distribution dev score (``dev``, drawn from the public vocabulary) says little about its
test score: it saturates while test still separates checkpoints. ``dev-shift`` is drawn from
this module, disjoint from both the public vocabulary and the held-out one, with the same
*kind* of shift as test, and it is public: agents see it, ``evaluate`` scores it by default,
and the train generator never draws on it.

tiny-facts (v1, v2) can only shift its wording here: its test people's facts are held out, and
a third set of people would need facts the base model saw in pre-training. tiny-facts-v3 asks its
dev-shift about :data:`FACTS_PEOPLE`: people whose facts the corpus states (they are public) but
whom v3's generator never asks about, as the test asks about people whom no public split does.
"""

from __future__ import annotations

#: tiny-arith: people (no made-up names, as in test) and the question that ends a story.
ARITH_NAMES = (
    "Greta",
    "Pablo",
    "Hana",
    "Igor",
    "Leila",
    "Anselm",
    "Nadia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rafael",
    "Sofia",
    "Tobias",
    "Uma",
    "Wilma",
    "Wendel",
    "Xenia",
    "Yusuf",
    "Yvette",
    "Elio",
)
ARITH_QUESTIONS = (
    "When the story ends, how many {obj} does {name} keep?",
    "How many {obj} is {name} left holding once it is all over?",
    "Work out the number of {obj} that {name} owns at the close. What is it?",
)

#: tiny-tools: new cities and people, and two new request wordings per function.
TOOLS_POOLS = {
    "city": (
        "Aarhus",
        "Lyon",
        "Cusco",
        "Naples",
        "Luxor",
        "Chennai",
        "Osaka",
        "Recife",
        "Salzburg",
        "Tallinn",
        "Cordoba",
        "Jaipur",
        "Hue",
        "Mombasa",
        "Tucson",
    ),
    "name": ("Greta", "Pablo", "Hana", "Igor", "Leila", "Anselm", "Nadia", "Oskar", "Priya", "Quinn"),
}
TOOLS_TEMPLATES = {
    "get_weather": (
        "Could you check the weather over {city}, given in {unit}?",
        "I am heading to {city}; what is the weather there in {unit}?",
    ),
    "set_alarm": (
        "Make an alarm ring at {hour} {minute}.",
        "Could you wake me at hour {hour} and minute {minute}?",
    ),
    "send_message": ("Write to {to} saying {text}.", "Could you send {to} a note that says {text}?"),
    "book_flight": (
        "Could you arrange a flight leaving {origin} for {destination}?",
        "Get me on a plane out of {origin} into {destination}.",
    ),
    "convert_currency": (
        "Turn {amount} dollars into {to} for me.",
        "What would {amount} dollars be worth in {to}?",
    ),
    "buy_item": ("Could you purchase {count} {item}?", "Add {count} {item} to my shopping and buy them."),
    "call_person": ("Could you give {name} a call?", "Dial {name} for me."),
    "set_timer": ("Count {minutes} minutes down for me.", "Could you time {minutes} minutes?"),
    "translate": ("Give me the {language} word for {word}.", "Could you put {word} into {language}?"),
    "get_time": ("Could you tell me the hour in {city} right now?", "What does the clock say in {city}?"),
    "add_numbers": ("Could you total {a} and {b}?", "Sum up {a} with {b}."),
    "play_song": ("Could you put on track {number}?", "Queue up song number {number} to play."),
}

#: tiny-facts: new wordings of each question (asked about the public people).
FACTS_QUESTIONS = {
    "city": ("Which city is home to {name}?", "{name} lives in which city?"),
    "job": ("What does {name} do for work?", "Which job does {name} have?"),
    "colour": ("Which colour is the favourite of {name}?", "What colour does {name} love most?"),
    "item": ("What is a thing that {name} owns?", "Which thing does {name} have?"),
}

#: tiny-facts-v3: the people whom its dev-shift asks about and its generator never does (their
#: facts are public, in ``world.PEOPLE_FACTS``; the corpus states them like everyone's).
FACTS_PEOPLE = ("Hugo", "Clara", "Omar", "Sara", "Finn", "Maya", "Eli", "Rosa")
