"""BFCL: answer a request with one call of the right function (Berkeley Function-Calling Leaderboard).

Data: ``gorilla-llm/Berkeley-Function-Calling-Leaderboard``, one JSON-lines file
per category (``BFCL_v3_<category>.json``, despite the suffix), each row with
``id``, ``question`` (turns, each a list of chat messages) and ``function`` (the
functions' JSON-schema docs). The answers are either inline (``exec_*`` files:
``ground_truth`` lists Python call strings) or in the twin file
``possible_answer/BFCL_v3_<category>.json`` (``ground_truth`` = a list of
``{function: {parameter: [allowed values]}}``, where ``""`` among the allowed
values means the parameter may be left out). The files are read directly (the
repository does not load with ``datasets``), from ``$PTB_ENV_DATA_DIR/<repo>``
or the hub.

Splits:

- ``test``: ``exec_simple`` (100 single calls), the category PostTrainBench
  evaluates: its ``evaluate.py`` runs Inspect's ``bfcl`` task with its defaults,
  which read ``BFCL_v3_exec_simple.json``, the file PostTrainBench's own
  contamination list downloads for BFCL. A parameter given in the inline
  ground truth must have that value; a parameter it leaves out must be left out.
- ``dev``: ``live_simple`` (258 user-contributed single calls, answers in
  ``possible_answer/``), a choice of ours: same task shape, disjoint rows.
- No ``train`` split: PostTrainBench forbids training on any file of this repository.

Other single-call categories (``simple``, ``multiple``, ``live_multiple``,
``exec_multiple``) can be chosen with ``test_categories`` / ``dev_categories``.

Scoring: ``ptb_env.benchmarks.bfcl_ast`` (BFCL's AST check of one call, our own code).

>>> schema = {"type": "dict", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
>>> row = {"id": "exec_simple_0", "question": [[{"role": "user", "content": "Cube 3."}]],
...        "function": [{"name": "cube", "parameters": schema}], "ground_truth": ["cube(n=3)"]}
>>> item = make_item(row, exec_answer(row), "exec_simple")
>>> item.target
'<tool_call>\\n{"name": "cube", "arguments": {"n": 3}}\\n</tool_call>'
>>> BFCL().score(item, item.target), BFCL().score(item, "cube(n=3)"), BFCL().score(item, "cube(n=4)")
(1.0, 1.0, 0.0)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.bfcl_ast import as_answer, match_call, parse_calls, python_calls, reference_args
from ptb_env.benchmarks.hub import DataSource, HubBenchmark
from ptb_env.errors import SplitNotAvailable

REPO = "gorilla-llm/Berkeley-Function-Calling-Leaderboard"
SINGLE_CALL = ("simple", "multiple", "live_simple", "live_multiple", "exec_simple", "exec_multiple")
"""Categories whose answer is one call (the ones this checker scores)."""

SYSTEM = (
    "You can call the functions described below (JSON Schema). Answer the user's request with exactly "
    "one function call and nothing else, in this format:\n"
    '<tool_call>\n{"name": "<function name>", "arguments": {"<parameter>": <value>, ...}}\n</tool_call>\n\n'
    "Functions:\n"
)

_SPACE = re.compile(r"\s*")


def question_file(category: str) -> str:
    return f"BFCL_v3_{category}.json"


def answer_file(category: str) -> str:
    return f"possible_answer/BFCL_v3_{category}.json"


def read_json_lines(text: str) -> list[dict[str, Any]]:
    """The objects of a JSON-lines text (objects spanning lines are tolerated)."""
    decoder, rows, pos = json.JSONDecoder(), [], 0
    while (pos := _SPACE.match(text, pos).end()) < len(text):  # type: ignore[union-attr]
        obj, pos = decoder.raw_decode(text, pos)
        rows.append(obj)
    return rows


def exec_answer(row: dict[str, Any]) -> list[dict[str, dict[str, list[Any]]]]:
    """The possible-answer form of an ``exec_*`` row's inline ground truth (Python call strings)."""
    schemas = {f["name"]: f.get("parameters") or {} for f in row["function"]}
    out = []
    for text in row["ground_truth"]:
        calls = python_calls(
            text, positional=list(schemas.get(text.split("(")[0].strip(), {}).get("properties") or ())
        )
        if not calls or len(calls) != 1:
            raise SplitNotAvailable(f"BFCL row {row.get('id')}: cannot parse the ground truth {text!r}.")
        name, args = calls[0]
        allowed = {p: [as_answer(v)] for p, v in args.items()}
        for p in (schemas.get(name) or {}).get("properties") or {}:
            allowed.setdefault(p, [""])
        out.append({name: allowed})
    return out


class BFCL(HubBenchmark):
    """BFCL single-call categories, AST-checked (see the module doc).

    Args:
        data_dir: Root of local dataset mirrors (default ``$PTB_ENV_DATA_DIR``).
        test_categories: Categories of the test split.
        dev_categories: Categories of the dev split.
        revision: Git revision of the dataset repository (default: its main branch).
    """

    name = "bfcl"
    description = "Answer a request with one call of the right function, as JSON (BFCL, AST-checked)."
    skill = "function calling"
    max_new_tokens = 16000
    splits = ("dev", "test")
    sources = {
        "test": DataSource(REPO, question_file("exec_simple")),
        "dev": DataSource(REPO, question_file("live_simple")),
    }

    def __init__(
        self,
        data_dir: Any = None,
        *,
        test_categories: tuple[str, ...] = ("exec_simple",),
        dev_categories: tuple[str, ...] = ("live_simple",),
        revision: str | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.categories = {"test": tuple(test_categories), "dev": tuple(dev_categories)}
        for cat in (*test_categories, *dev_categories):
            if cat not in SINGLE_CALL:
                raise ValueError(
                    f"BFCL category {cat!r} is not scored here; choose from {', '.join(SINGLE_CALL)}."
                )
        self.revision = revision

    def _read(self, path: str) -> list[dict[str, Any]]:
        local = DataSource(REPO, path).local_dir(self.data_dir)
        try:
            if local is not None:
                file = local / path
            else:
                from huggingface_hub import hf_hub_download

                file = Path(hf_hub_download(REPO, path, repo_type="dataset", revision=self.revision))
            return read_json_lines(file.read_text(encoding="utf-8"))
        except Exception as err:  # noqa: BLE001 - any loader failure: say where the data should be
            raise SplitNotAvailable(
                f"Could not read {REPO}/{path} ({type(err).__name__}: {err}). Offline, put a copy of the "
                f"repository at $PTB_ENV_DATA_DIR/{REPO} "
                f"(`hf download --repo-type dataset {REPO} --local-dir <dir>`)."
            ) from err

    def load_items(self, split: str) -> list[Item]:
        items = []
        for cat in self.categories[split]:
            rows = self._read(question_file(cat))
            if rows and all("ground_truth" in r for r in rows):
                answers = {r["id"]: exec_answer(r) for r in rows}
            else:
                answers = {r["id"]: r["ground_truth"] for r in self._read(answer_file(cat))}
            for row in rows:
                if row["id"] not in answers:
                    raise SplitNotAvailable(f"{answer_file(cat)} has no answer for {row['id']!r}.")
                items.append(make_item(row, answers[row["id"]], cat))
        return items

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta["sources"] = {
            s: [f"{REPO}/{question_file(c)}" for c in cats] for s, cats in self.categories.items()
        }
        return meta

    def extract(self, completion: str) -> str | None:
        calls = parse_calls(completion)
        if not calls or len(calls) != 1:
            return None
        return json.dumps({"name": calls[0][0], "arguments": calls[0][1]}, ensure_ascii=False, default=str)

    def score(self, item: Item, completion: str) -> float:
        calls = parse_calls(completion)
        if not calls or len(calls) != 1:
            return 0.0
        schemas = item.meta["functions"]
        answers = json.loads(item.answer)
        return float(
            any(
                match_call(calls[0], f, allowed, schemas.get(f, {}))
                for alt in answers
                for f, allowed in alt.items()
            )
        )


def make_item(row: dict[str, Any], answers: list[dict[str, Any]], category: str) -> Item:
    """One BFCL row as an item: system turn with the functions and the format, then the request."""
    turns = row["question"]
    messages = turns[0] if turns and isinstance(turns[0], list) else turns
    functions = row["function"] if isinstance(row["function"], list) else [row["function"]]
    extra = "".join("\n\n" + m["content"] for m in messages if m["role"] == "system")
    system = SYSTEM + json.dumps(functions, indent=2, ensure_ascii=False) + extra
    rest = tuple({"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system")
    name, allowed = next(iter(answers[0].items()))
    call = json.dumps({"name": name, "arguments": reference_args(allowed)}, ensure_ascii=False)
    return Item(
        id=str(row["id"]),
        messages=({"role": "system", "content": system}, *rest),
        answer=json.dumps(answers, ensure_ascii=False, sort_keys=True),
        target=f"<tool_call>\n{call}\n</tool_call>",
        meta={"category": category, "functions": {f["name"]: f.get("parameters") or {} for f in functions}},
    )
