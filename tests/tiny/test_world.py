"""The tiny world's vocabulary keeps tiny-facts' answers private (issue 14, F11).

Before: the hidden test split asked about ``world.NAMES[30:]``, and the public
``world.person_facts`` (a formula over the name's index) gave every one of their facts, so the
public code answered the hidden test. Now who the test asks about and their facts live only in
``ptb_env/_private/heldout.json``; the corpus states them only where that file is readable.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest

from ptb_env.benchmarks import get_benchmark
from ptb_env.paths import PACKAGE_DIR, PRIVATE_DIR
from ptb_env.tiny import world
from ptb_env.tiny.corpus import documents

HELD_OUT: dict[str, dict[str, str]] = json.loads((PRIVATE_DIR / "heldout.json").read_text())["tiny-facts"][
    "people"
]


def statements(name: str, facts: dict[str, str]) -> list[str]:
    """How the corpus (or a table) states a person's facts."""
    return [
        f"{name} lives in {facts['city']}",
        f"{name} works as a {facts['job']}",
        f"The favourite colour of {name} is {facts['colour']}",
        f"{name} owns a {facts['item']}",
        f'"{name}": {{"city": "{facts["city"]}"',
    ]


@pytest.fixture
def private_dir_hidden(monkeypatch, tmp_path):
    """As inside the sandbox: the private directory does not exist."""
    monkeypatch.setattr(world, "PRIVATE_DIR", tmp_path / "masked")
    world.held_out_facts.cache_clear()
    yield
    world.held_out_facts.cache_clear()


def test_the_test_split_asks_only_about_the_held_out_people_and_their_facts():
    items = get_benchmark("tiny-facts").items("test")
    assert {it.meta["person"] for it in items} == set(HELD_OUT)
    assert not set(HELD_OUT) & set(world.PEOPLE_FACTS)
    for it in items:
        truth = HELD_OUT[it.meta["person"]][it.meta["fact"]]
        assert f"{it.answer}) {truth}\n" in it.messages[0]["content"]


def test_public_code_cannot_rebuild_the_test_answers(private_dir_hidden):
    rebuilt = {}
    for name in world.NAMES:  # every person of the world, through the public API
        try:
            rebuilt[name] = world.person_facts(name)
        except KeyError:
            pass
    assert set(rebuilt) == set(world.PEOPLE_FACTS)  # no held-out person's facts
    text = "\n".join(itertools.islice(documents(0), 20_000))  # the pre-training corpus generator
    said = [s for name, facts in HELD_OUT.items() for s in statements(name, facts) if s in text]
    assert not said
    assert any(s in text for name, facts in world.PEOPLE_FACTS.items() for s in statements(name, facts))


def test_the_corpus_states_the_held_out_facts_where_the_private_file_is_readable():
    """The shipped base model learnt them from this corpus: the host rebuilds it byte for byte."""
    text = "\n".join(itertools.islice(documents(0), 20_000))
    assert all(f"{name} lives in {facts['city']}." in text for name, facts in HELD_OUT.items())


def test_no_public_file_of_the_package_states_a_held_out_fact():
    said = []
    for path in PACKAGE_DIR.rglob("*"):
        if PRIVATE_DIR in path.parents or not path.is_file() or path.suffix in (".safetensors", ".pyc"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        said += [f"{path}: {s}" for n, f in HELD_OUT.items() for s in statements(n, f) if s in text]
        said += [f"{path}: index formula" for _ in re.finditer(r"NAMES\.index\(", text)]
    assert not said
