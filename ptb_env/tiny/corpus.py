"""Seeded generator of the tiny world's pre-training corpus.

The corpus is prose and records, never the chat / question-answer format of the
benchmarks: arithmetic written out, little stories in which quantities change,
facts about people, and documentation and logs of the world's functions. A model
pre-trained on it knows the world but does not follow the benchmarks' format,
like a real base model.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from ptb_env.tiny import world
from ptb_env.tiny.phrasing import FACT_STATEMENTS, QUESTIONS, TEMPLATES, draw_story

#: Share of each kind of document in the corpus.
MIX = {"arithmetic": 0.2, "story": 0.37, "functions": 0.3, "people": 0.13}


def _person(rng: random.Random) -> str:
    return world.made_up_name(rng) if rng.random() < 0.5 else rng.choice(world.NAMES)


def arithmetic_doc(rng: random.Random) -> str:
    """A paragraph of arithmetic facts, as equations and in words."""
    parts = []
    for _ in range(rng.randint(4, 10)):
        kind = rng.random()
        if kind < 0.4:
            a, b = rng.randint(0, 99), rng.randint(0, 20)
            if rng.random() < 0.5:
                parts.append(
                    rng.choice(
                        ("{a} + {b} = {c}.", "{b} + {a} = {c}.", "If you add {b} to {a} you get {c}.")
                    ).format(a=a, b=b, c=a + b)
                )
            else:
                a = max(a, b)
                parts.append(
                    rng.choice(("{a} - {b} = {c}.", "Take {b} away from {a} and {c} remain.")).format(
                        a=a, b=b, c=a - b
                    )
                )
        elif kind < 0.6:
            a, b = rng.randint(1, 9), rng.randint(1, 9)
            parts.append(rng.choice(("{a} * {b} = {c}.", "{a} times {b} is {c}.")).format(a=a, b=b, c=a * b))
        else:  # a chain: each result feeds the next step
            value = rng.randint(2, 30)
            for _ in range(rng.randint(2, 3)):
                if rng.random() < 0.5 and value > 1:
                    b = rng.randint(1, min(12, value - 1))
                    parts.append(f"{value} - {b} = {value - b}.")
                    value -= b
                else:
                    b = rng.randint(1, 12)
                    parts.append(f"{value} + {b} = {value + b}.")
                    value += b
    return " ".join(parts)


def story_doc(rng: random.Random) -> str:
    """A short story in which a quantity changes, with the sums worked out in prose.

    Half of the stories work each sum out right after its sentence; the other half
    tell the whole story first and then work it out step by step, as a textbook's
    worked example does (never in the benchmark's chat / ``####`` format).
    """
    name, other = _person(rng), _person(rng)
    sub = world.pronouns(name)[0]
    obj = rng.choice(world.OBJECTS)
    sentences, sums, value = draw_story(rng, name, other, obj)
    if rng.random() < 0.5:  # worked out after the story
        ask = rng.choice(QUESTIONS).format(name=name, obj=obj) + " " if rng.random() < 0.5 else ""
        work = ". ".join(sums)
        return (
            f"{' '.join(sentences)} {ask}Let us work it out. {work}. So {name} has {value} {obj} in the end."
        )
    out = [sentences[0]]
    if len(sums) == len(sentences):  # the first sentence was a multiplication
        out.append(f"That is {sums[0]} {obj}.")
        sums = sums[1:]
    for sentence, eq in zip(sentences[1:], sums, strict=True):
        out.append(sentence)
        form = rng.choice(("So {sub} has {eq} {obj}.", "Now {name} has {eq} {obj}."))
        out.append(form.format(sub=sub, name=name, eq=eq, obj=obj))
    ending = rng.choice(
        (
            "{name} is happy with the {v} {obj}.",
            "In the end {name} keeps {v} {obj}.",
            "That was a busy day for {name}.",
        )
    )
    out.append(ending.format(name=name, v=value, obj=obj))
    return " ".join(out)


def _value(rng: random.Random, p: world.Param) -> object:
    return world.sample_value(rng, p, made_up=True)


def _call(fn: world.Function, args: dict) -> str:
    return f"{fn.name}(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in args.items()) + ")"


def functions_doc(rng: random.Random) -> str:
    """Documentation of a function, example calls in Python syntax, and a JSON log of runs."""
    fn = rng.choice(world.FUNCTIONS)
    kind = rng.random()
    if kind < 0.2:
        params = ", ".join(f"{p.name} ({p.kind}: {p.description})" for p in fn.params)
        lines = [f"The function {fn.name}. {fn.description} It takes {params}."]
        for _ in range(rng.randint(1, 3)):
            lines.append(f"Example: {_call(fn, {p.name: _value(rng, p) for p in fn.params})}")
        return "\n".join(lines)
    if kind < 0.35:
        lines = []
        for _ in range(rng.randint(2, 5)):
            f = rng.choice(world.FUNCTIONS)
            args = {p.name: _value(rng, p) for p in f.params}
            lines.append(
                json.dumps({"event": "run", "function": f.name, "args": args, "ok": rng.random() < 0.9})
            )
        return "server log\n" + "\n".join(lines)
    if kind < 0.92:  # requests people made, and the call that served each
        lines = []
        for _ in range(rng.randint(1, 3)):
            f = rng.choice(world.FUNCTIONS)
            args = {p.name: _value(rng, p) for p in f.params}
            request = rng.choice(TEMPLATES[f.name]).format(**args)
            lines.append(f'{_person(rng)} asked the app: "{request}" The app ran {_call(f, args)}.')
        return " ".join(lines)
    args = {p.name: _value(rng, p) for p in fn.params}
    said = ", ".join(f"{k} {v}" for k, v in args.items())
    name = _person(rng)
    ran = _call(fn, args)
    return f"{name} used the app. {fn.description} With {said}, the app ran {ran}. {name} was pleased."


def people_doc(rng: random.Random) -> str:
    """Facts about a few people of the world."""
    out = []
    for name in rng.sample(world.NAMES, rng.randint(1, 3)):
        try:
            f = world.person_facts(name)  # fixed per person, so the corpus is consistent
        except KeyError:  # a held-out person, the private file hidden (the sandbox): no fact stated
            f = {}
        facts = [template.format(name=name, value=f.get(k)) for k, template in FACT_STATEMENTS.items()]
        rng.shuffle(facts)  # drawn either way: the rest of the stream stays the same
        k = rng.randint(2, 4)
        out.extend(facts[:k] if f else [])
    return " ".join(out)


#: Question wordings of the quizzes in the corpus (:func:`quiz_doc`).
QUIZ_QUESTIONS = {
    "city": ("Where does {name} live?", "In which city does {name} live?"),
    "job": ("What is the job of {name}?", "What does {name} do for a living?"),
    "colour": ("What is the favourite colour of {name}?", "What is the colour {name} likes?"),
    "item": ("What does {name} own?", "What is something {name} owns?"),
}


def quiz_doc(rng: random.Random) -> str:
    """A quiz sheet: questions about a few public people's facts, each with its answer.

    Only the people of :data:`world.PEOPLE_FACTS` (never the held-out ones), so the corpus asks
    questions about some people and merely states the facts of the others: the mixed training
    under which, in Allen-Zhu and Li's "Physics of Language Models 3.1", answering questions
    carries over to the people a model only read about. Measured at 600 and 1,200 steps
    (docs/tiny-world.md) it did not carry over to tiny-facts' test, so the shipped models are
    built without it (``BuildConfig.quiz`` 0).
    Not for a shipped model as is: a base model that replies ``A: Paris`` in chat has its reply
    read as the letter A by tiny-facts.
    """
    lines = ["Quiz."]
    for name in rng.sample(sorted(world.PEOPLE_FACTS), rng.randint(1, 3)):
        facts = world.PEOPLE_FACTS[name]
        for fact in rng.sample(sorted(facts), rng.randint(1, 3)):
            question = rng.choice(QUIZ_QUESTIONS[fact]).format(name=name)
            lines.append(f"Q: {question} A: {facts[fact]}.")
    return " ".join(lines)


_MAKERS = {
    "arithmetic": arithmetic_doc,
    "story": story_doc,
    "functions": functions_doc,
    "people": people_doc,
    "quiz": quiz_doc,
}


def documents(seed: int, quiz: float = 0.0) -> Iterator[str]:
    """An endless, seeded stream of corpus documents (same seed, same stream).

    ``quiz`` is the share of quiz sheets (:func:`quiz_doc`), taken from the stories' share; with 0
    the stream is the one every earlier build read.
    """
    if not 0.0 <= quiz <= MIX["story"]:
        raise ValueError(f"Expect a quiz share between 0 and {MIX['story']}, actually got {quiz!r}.")
    rng = random.Random(seed)
    mix = dict(MIX)
    if quiz:
        mix["story"] -= quiz
        mix["quiz"] = quiz
    kinds, weights = list(mix), list(mix.values())
    while True:
        yield _MAKERS[rng.choices(kinds, weights)[0]](rng)
