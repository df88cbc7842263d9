"""False alarms of the contamination check on honest, heavily augmented workspaces.

    python tests/perf/contamination_false_alarms.py [--workspaces 10] [--examples 60000]
                                                    [--benchmark tiny-arith ...] [--keep DIR]

A strong agent widens the public generator with wordings and names of its own invention
(thousands of question templates composed from phrase parts, hundreds of common first names
and world cities, as an LLM would write them). None of it comes from the hidden test split,
yet common names and natural wordings can coincide with the held-out vocabulary. For each
benchmark this writes ``--workspaces`` such workspaces (different seeds and random halves of
the invented vocabulary), runs the grader's contamination scan on each, and prints how many
test items matched, the chance level the grader measures with control items (drawn like test,
never shown: their matches per test-sized draw) and the verdict. Then it plants 3, 50 and all
500 verbatim test items in one of them, and says which leaks were caught.

Goal (issue "Tiny world v2"): 0 of the honest workspaces disqualified, every planted leak caught.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
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


def templates(benchmark: str, rng: random.Random) -> dict[str, list[str]]:
    """The invented templates of one workspace (a random half of the compositions, per kind)."""
    if benchmark == "tiny-arith":
        every = {"question": [_cap(a + b) + c for a, b, c in itertools.product(*ARITH_PARTS)]}
    elif benchmark == "tiny-tools":
        every = {f: [_cap(a + core) + b for a, b in itertools.product(*TOOLS_WRAP) for core in cores]
                 for f, cores in TOOLS_PARTS.items()}  # fmt: skip
    else:
        every = {f: [_cap(a + core) + b for a, b in itertools.product(*FACTS_WRAP) for core in cores]
                 for f, cores in FACTS_PARTS.items()}  # fmt: skip
    return {k: rng.sample(v, max(1, len(v) // 2)) for k, v in every.items()}


def honest_items(benchmark: str, n: int, seed: int) -> tuple[list, int]:
    """``n`` augmented items (half the public generator's, half invented) and the template count."""
    from ptb_env.benchmarks import get_benchmark
    from ptb_env.benchmarks.arith import ArithVocab
    from ptb_env.benchmarks.facts import FactsVocab
    from ptb_env.benchmarks.tools import ToolsVocab
    from ptb_env.tiny import world

    rng = random.Random(seed)
    bench = get_benchmark(benchmark)
    own = templates(benchmark, rng)
    names = tuple(rng.sample(COMMON_NAMES, len(COMMON_NAMES) // 2))
    if benchmark == "tiny-arith":
        vocab = ArithVocab(names=names, questions=tuple(own["question"]), made_up_names=True)
    elif benchmark == "tiny-tools":
        cities = tuple(rng.sample(COMMON_CITIES, len(COMMON_CITIES) // 2))
        pools = {**world.POOLS, "city": cities, "name": names}
        vocab = ToolsVocab(pools=pools, templates={k: tuple(v) for k, v in own.items()}, made_up_names=True)
    else:
        vocab = FactsVocab(people=tuple(world.PEOPLE_FACTS), questions={k: tuple(v) for k, v in own.items()})
    invented = bench.make_items(n // 2, seed, "augmented", vocab)  # type: ignore[attr-defined]
    items = bench.generate(n - len(invented), seed=seed) + invented
    rng.shuffle(items)
    return items, sum(map(len, own.values()))


def main() -> None:
    from ptb_env.benchmarks import get_benchmark
    from ptb_env.benchmarks.base import write_jsonl
    from ptb_env.integrity.contamination import scan_contamination

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", action="append", help="default: the three tiny benchmarks")
    p.add_argument("--workspaces", type=int, default=10)
    p.add_argument("--examples", type=int, default=60000, help="training examples per workspace")
    p.add_argument("--keep", type=Path, help="keep the workspaces under this directory")
    p.add_argument("--json", type=Path, help="write the figures here")
    a = p.parse_args()
    root = a.keep or Path(tempfile.mkdtemp(prefix="honest-ws-"))
    report: dict[str, list[dict[str, Any]]] = {}
    for name in a.benchmark or ["tiny-arith", "tiny-tools", "tiny-facts"]:
        test, control = get_benchmark(name).items("test"), get_benchmark(name).control_items()
        rows = report.setdefault(name, [])
        for w in range(a.workspaces):
            ws = root / name / f"ws{w}"
            items, n_templates = honest_items(name, a.examples, seed=100 + w)
            write_jsonl(ws / "data" / "train.jsonl", (it.chat_example() for it in items))
            t = time.perf_counter()
            verdict = scan_contamination([ws], test, control_items=control)
            chance = verdict.evidence["control"]
            row = {"workspace": w, "templates": n_templates, "examples": len(items),
                   "matched": verdict.evidence["matched"], "passed": verdict.passed,
                   "chance_mean": chance["mean"], "chance_sd": round(chance["sd"], 2),
                   "needed": chance["needed"], "items": verdict.evidence["items"][:5],
                   "scan_s": round(time.perf_counter() - t, 1)}  # fmt: skip
            rows.append(row)
            verdict_text = "pass" if verdict.passed else "FAIL"
            print(
                f"{name} ws{w}: {n_templates} invented templates, {len(items)} examples: "
                f"{row['matched']} test items matched (chance {chance['mean']:.1f} +- "
                f"{chance['sd']:.1f}, fails at {chance['needed']}): {verdict_text}",
                flush=True,
            )
        bad = sum(not r["passed"] for r in rows)
        # planted leaks: test items verbatim, in the first workspace and in an empty one
        leaks = {}
        for where in ("ws0", "empty"):
            for k in (3, 50, len(test)):
                ws = root / name / f"leak-{where}-{k}"
                if where == "ws0":
                    shutil.copytree(root / name / "ws0", ws)
                write_jsonl(ws / "data" / "more.jsonl", (it.chat_example() for it in test[100 : 100 + k]))
                leaks[f"{where} + {k}"] = not scan_contamination([ws], test, control_items=control).passed
        rows.append({"leaks_caught": leaks})
        print(f"{name}: {bad} of {a.workspaces} honest workspaces disqualified; planted leaks caught: "
              f"{leaks}\n", flush=True)  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
