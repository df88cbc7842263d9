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
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ptb_agents.augment import COMMON_CITIES, COMMON_NAMES, templates


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
