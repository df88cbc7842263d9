"""MkDocs hook that generates the task pages and the tool reference from the package itself.

The pages are built from what the env reads at run time, so the docs cannot drift from it:

- ``tasks/index.md`` and one ``tasks/<benchmark>.md`` per benchmark, in Minigrid's shape
  (Action Space, Observation Space, Rewards, Termination, Registered Configurations), from
  the ``TaskSpec`` registry (``ptb_env.tasks``), the Gymnasium registry, the observation
  space (``ptb_env.observations``) and the task card (``ptb_env.tasks.card``);
- ``tools.md``: every tool of ``ptb_env.tools.default_tools()`` with its parameters table
  and its OpenAI function-calling schema.

``on_config`` expands the nav entry ``Tasks: tasks/index.md`` into the generated pages, grouped
by world, and ``on_files`` adds the pages to the build (nothing is written to ``docs/``).
Enabled by ``hooks: [docs/hooks/gen_pages.py]`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import gymnasium as gym
from mkdocs.structure.files import File, Files

import ptb_env
from ptb_env.observations import observation_space
from ptb_env.registration import ENTRY_POINT, RECIPE_ENTRY_POINT
from ptb_env.tasks import DEFAULT_TASK, TaskSpec, get_task, list_tasks
from ptb_env.tasks.card import render_task_card
from ptb_env.tools import Tool, default_tools

TASKS_INDEX = "tasks/index.md"
TOOLS_PAGE = "tools.md"
WORLDS = {"tiny": "Tiny world", "ptb": "PostTrainBench suite"}
"""Nav section title of each world, in nav order (other worlds follow, titled by their name)."""
WORLD_PAGES = {"tiny": "../tiny-world.md", "ptb": "../ptb-suite.md"}
OBSERVATION_KEYS = {
    "output": "what the last tool call printed (head and tail kept when long)",
    "workspace": "summary of the workspace: top-level files, the files of `final_model/`, the jobs",
    "budget": "`seconds_left`, `steps_left`, `dev_evals_left`, `compute_left` (TFLOP; `inf`: unlimited)",
    "best_dev_score": "best dev score of the episode (NaN until the first `evaluate`)",
    "last_dev_score": "last dev score of the episode (NaN until the first `evaluate`)",
    "error": 'why the last action failed; "" when it did not',
}
"""The meaning of each observation key; the build fails when the space has another key set."""
_PACKAGE_DIR = Path(ptb_env.__file__).resolve().parent


class DocsDriftError(RuntimeError):
    """The hook's hand-written text no longer matches the package (update this hook)."""


def _cell(text: Any) -> str:
    """``text`` made safe for one Markdown table cell (a ``|`` in a code span needs no escape)."""
    parts = re.split(r"(`[^`]*`)", str(text).replace("\n", " "))
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in parts)


def _shown_path(path: str | None) -> str | None:
    """A path inside the package as ``ptb_env/...`` (no host-specific prefix in the docs)."""
    if path is None:
        return None
    p = Path(path)
    try:
        return "ptb_env/" + p.resolve().relative_to(_PACKAGE_DIR).as_posix()
    except ValueError:
        return path


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{seconds:g} s ({hours:g} h)" if hours >= 1 and hours == int(hours) else f"{seconds:g} s"


def _budget(spec: TaskSpec) -> str:
    parts = [
        "unlimited time" if spec.time_limit_s is None else _duration(spec.time_limit_s),
        "unlimited steps" if spec.max_steps is None else f"{spec.max_steps} steps",
        "unlimited dev evaluations"
        if spec.max_dev_evals is None
        else f"{spec.max_dev_evals} dev evaluations",
    ]
    return ", ".join(parts)


def _resources(spec: TaskSpec) -> str:
    gpus = f"{spec.gpus} GPU{'s' if spec.gpus > 1 else ''}" if spec.gpus else "CPU"
    memory = "no memory limit" if spec.memory_mb is None else f"{spec.memory_mb} MB"
    return f"{gpus}, {'network open' if spec.network else 'no network'}, {memory}"


def _dev_items(n: int) -> str:
    return "every item" if n >= 100_000 else f"the first {n} items"


def _slug(benchmark: str) -> str:
    return benchmark.replace("/", "-")


def _gym_ids() -> dict[str, list[tuple[str, str]]]:
    """Task id -> ``(gym id, kind)`` of every ``PostTrain*`` id in the Gymnasium registry."""
    kinds = {ENTRY_POINT: "tool calls", RECIPE_ENTRY_POINT: "recipe wrapper"}
    ids: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for env_id, spec in sorted(gym.registry.items()):
        if env_id.startswith("PostTrain") and "task" in spec.kwargs:
            ids[str(spec.kwargs["task"])].append((env_id, kinds.get(str(spec.entry_point), "other")))
    return ids


def task_groups() -> dict[str, dict[str, list[TaskSpec]]]:
    """World -> benchmark -> the registered tasks of that benchmark (sorted by id)."""
    groups: dict[str, dict[str, list[TaskSpec]]] = defaultdict(lambda: defaultdict(list))
    for task_id in list_tasks():
        spec = get_task(task_id)
        groups[spec.world][spec.benchmark].append(spec)
    order = [*WORLDS, *sorted(set(groups) - set(WORLDS))]
    return {w: dict(sorted(groups[w].items())) for w in order if w in groups}


# --- the tool reference ---------------------------------------------------------------------


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and high is not None:
        parts.append(f"{low:g} to {high:g}")
    elif low is not None or high is not None:
        parts.append(f">= {low:g}" if low is not None else f"<= {high:g}")
    if "maxLength" in prop:
        parts.append(f"at most {prop['maxLength']:,} characters")
    if "enum" in prop:
        parts.append("one of " + ", ".join(f"`{v}`" for v in prop["enum"]))
    return "; ".join(parts)


def _signature(tool: Tool) -> str:
    required = tool.parameters.get("required", [])
    names = [f"`{p}`" if p in required else f"`{p}?`" for p in tool.parameters.get("properties", {})]
    return ", ".join(names)


def tools_page(tools: dict[str, Tool]) -> str:
    """``tools.md``: one section per tool with its parameters table and schema."""
    lines = [
        "# Tool reference",
        "",
        "The agent acts through these tools. An action names one and its arguments, as a dict or "
        'the same as a JSON string: `{"tool": "bash", "args": {"command": "ls"}}`. The action '
        "space validates the call against the tool's JSON schema below; a call that fails is not "
        "run, and the observation's `error` says why (see [the action space](env.md#action-space)).",
        "",
        '`env.unwrapped.tool_schemas` (and `info["tool_schemas"]` at reset) gives the schemas in '
        "the OpenAI function-calling format, ready for a chat API's `tools`. Every task has the same "
        f"{len(tools)} tools. *This page is generated from `ptb_env.tools.default_tools()`.*",
        "",
        "| tool | arguments (`?`: optional) |",
        "| --- | --- |",
        *(f"| [`{name}`](#{name}) | {_signature(t) or '(none)'} |" for name, t in tools.items()),
        "",
    ]
    for name, tool in tools.items():
        props = tool.parameters.get("properties", {})
        required = tool.parameters.get("required", [])
        lines += [f"## `{name}` {{#{name}}}", "", tool.description, ""]
        if props:
            lines += ["| parameter | type | required | limits | description |", "|---|---|---|---|---|"]
            for pname, prop in props.items():
                lines.append(
                    f"| `{pname}` | {prop.get('type', 'any')} | {'yes' if pname in required else 'no'} | "
                    f"{_cell(_limits(prop))} | {_cell(prop.get('description', ''))} |"
                )
        else:
            lines.append("No parameters.")
        schema = json.dumps(tool.openai_schema(), indent=2, ensure_ascii=False)
        lines += [
            "",
            f'??? note "OpenAI schema of `{name}`"',
            "",
            "    ```json",
            *(f"    {ln}" for ln in schema.splitlines()),
            "    ```",
            "",
        ]
    return "\n".join(lines)


# --- the task pages -------------------------------------------------------------------------


def _observation_rows() -> list[str]:
    space = observation_space()
    if set(space.spaces) != set(OBSERVATION_KEYS):
        raise DocsDriftError(
            f"The observation keys are {sorted(space.spaces)}, the docs hook describes "
            f"{sorted(OBSERVATION_KEYS)}: update OBSERVATION_KEYS in docs/hooks/gen_pages.py."
        )
    return [f"| `{k}` | `{_cell(space.spaces[k])}` | {OBSERVATION_KEYS[k]} |" for k in OBSERVATION_KEYS]


def _common(specs: list[TaskSpec], attr: str) -> Any:
    """The value of ``attr`` shared by every spec, or ``None`` when they differ."""
    values = {repr(getattr(s, attr)) for s in specs}
    return getattr(specs[0], attr) if len(values) == 1 else None


def _template(spec: TaskSpec) -> str:
    stops = " or ".join(f"`{t}`" for t in spec.stop_tokens) or "EOS only"
    template = _shown_path(spec.chat_template)
    return f"`{template}` (stops at {stops})" if template else f"the base model's own (stops at {stops})"


def task_page(world: str, benchmark: str, specs: list[TaskSpec], tools: dict[str, Tool]) -> str:
    """``tasks/<benchmark>.md``: the tasks of one benchmark, in Minigrid's shape."""
    ids, first = _gym_ids(), specs[0]
    own = [i for i, kind in ids.get(first.id, []) if kind == "tool calls" and i != "PostTrain-v0"]
    make = f'gym.make("{own[0]}")' if own else f'gym.make("PostTrain-v0", task="{first.id}")'
    world_page = WORLD_PAGES.get(world)
    world_link = f"[{WORLDS.get(world, world)}]({world_page})" if world_page else f"`{world}`"
    dev_split, dev_limit = _common(specs, "dev_split"), _common(specs, "dev_limit")
    backend, batch = _common(specs, "inference_backend"), _common(specs, "eval_batch_size")
    lines = [
        f"# {benchmark}",
        "",
        f"*Generated from the task specs of `ptb_env.tasks` ({len(specs)} registered "
        f"task{'s' if len(specs) > 1 else ''}).*",
        "",
        "| | |",
        "| --- | --- |",
        f"| Action Space | `ToolCallSpace` over {len(tools)} [tools](../tools.md) |",
        "| Observation Space | `Dict` of `output`, `workspace`, `budget`, `best_dev_score`, "
        "`last_dev_score`, `error` |",
        '| Reward Range | [-1, 1] (`reward_mode="uplift"`, the default) |',
        f"| World | {world_link} |",
        f"| Benchmark | `{benchmark}` |",
        f"| Creation | `{make}` |",
        "",
        "## Description",
        "",
        first.goal + (f" *(The goal of `{first.id}`.)*" if len(specs) > 1 else ""),
        "",
        f'??? note "Task card of `{first.id}` (`info[\\"task_card\\"]`)"',
        "",
        "    ````markdown",
        *(f"    {ln}" if ln else "" for ln in render_task_card(first, tools).splitlines()),
        "    ````",
        "",
        "## Action Space",
        "",
        'A tool call, `{"tool": name, "args": {...}}`, as a dict or a JSON string '
        "([details](../env.md#action-space)). A malformed call runs nothing and comes back in the "
        "observation's `error`.",
        "",
        "| tool | arguments (`?`: optional) |",
        "| --- | --- |",
        *(f"| [`{name}`](../tools.md#{name}) | {_signature(t) or '(none)'} |" for name, t in tools.items()),
        "",
        "## Observation Space",
        "",
        "| key | space | meaning |",
        "| --- | --- | --- |",
        *_observation_rows(),
        "",
        "## Rewards",
        "",
        "0 on every step but the last. On the last step: the score of `final_model/` on the hidden "
        f"**test** split of `{benchmark}` minus the base model's, in [-1, 1]. A missing or invalid "
        "checkpoint grades as the base model (reward 0); a failed integrity check disqualifies "
        "(reward `-penalty`, 0 by default). See [reward](../concepts.md#reward) and "
        "[integrity](../integrity.md).",
        "",
        "- Dev checks: the `evaluate` tool scores the "
        + (f"`{dev_split}` split" if dev_split else "split of each configuration")
        + (
            f", {_dev_items(dev_limit)} by default (`limit=` to change)."
            if dev_limit is not None
            else " (default size per configuration)."
        ),
        "- Evaluation: greedy decoding with the "
        + (f"`{backend}` backend" if backend else "backend of each configuration")
        + (f", {batch} prompts per batch" if batch else "")
        + "; the chat template is forced by the task (see the configurations below).",
        "",
        "## Termination",
        "",
        "- `terminated=True` after `submit`;",
        "- `truncated=True` when the wall clock or the steps run out (see the budgets below; "
        '`info["truncated_by"]` names the ledgers). Running out of dev evaluations only blocks '
        "`evaluate`;",
        "- both end with grading; `step()` after the end raises `EpisodeNotRunning`.",
        "",
        "## Registered Configurations",
        "",
        "| task | Gymnasium ids | base model | budget | resources | chat template |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in specs:
        gym_ids = "<br>".join(
            f"`{i}`" + (" (recipe wrapper)" if kind == "recipe wrapper" else "")
            for i, kind in ids.get(spec.id, [])
        )
        model = f"`{_shown_path(spec.base_model)}`"
        if spec.base_model_revision:
            model += f" @ `{spec.base_model_revision}`"
        lines.append(
            f"| `{spec.id}` | {gym_ids or '(none)'} | {model} | {_budget(spec)} | "
            f"{_resources(spec)} | {_cell(_template(spec))} |"
        )
    lines += [
        "",
        'Every task also runs as `gym.make("PostTrain-v0", task="<task>")`; keyword arguments '
        "(`time_limit_s=`, `max_steps=`, `sandbox=`, `reward_mode=`, ...) override the spec "
        "(see [PostTrain-v0](../env.md#registered-configurations)).",
        "",
    ]
    return "\n".join(lines)


def tasks_index(groups: dict[str, dict[str, list[TaskSpec]]]) -> str:
    """``tasks/index.md``: every registered task in one table."""
    ids = _gym_ids()
    lines = [
        "# Tasks",
        "",
        "Every registered task, by world and benchmark; each benchmark has a page with its "
        "action and observation spaces, rewards, termination and configurations. "
        f"`PostTrain-v0` is `{DEFAULT_TASK}`. `ptb-env list` prints the same ids. "
        "*Generated from `ptb_env.tasks.list_tasks()`.*",
        "",
    ]
    for world, benchmarks in groups.items():
        lines += [
            f"## {WORLDS.get(world, world)}",
            "",
            "| task | Gymnasium id | base model | budget |",
            "|---|---|---|---|",
        ]
        for benchmark, specs in benchmarks.items():
            for spec in specs:
                own = [i for i, kind in ids.get(spec.id, []) if kind == "tool calls" and i != "PostTrain-v0"]
                gym_id = f"`{own[0]}`" if own else "(none)"
                lines.append(
                    f"| [`{spec.id}`]({_slug(benchmark)}.md) | {gym_id} | "
                    f"`{_shown_path(spec.base_model)}` | {_budget(spec)} |"
                )
        lines.append("")
    return "\n".join(lines)


def generated_pages() -> dict[str, str]:
    """Path under ``docs/`` -> Markdown of every generated page."""
    tools, groups = default_tools(), task_groups()
    pages = {TOOLS_PAGE: tools_page(tools), TASKS_INDEX: tasks_index(groups)}
    for world, benchmarks in groups.items():
        for benchmark, specs in benchmarks.items():
            pages[f"tasks/{_slug(benchmark)}.md"] = task_page(world, benchmark, specs, tools)
    return pages


# --- MkDocs events --------------------------------------------------------------------------


def _tasks_nav() -> list[Any]:
    return [
        TASKS_INDEX,
        *(
            {WORLDS.get(world, world): [f"tasks/{_slug(b)}.md" for b in benchmarks]}
            for world, benchmarks in task_groups().items()
        ),
    ]


def _expand(nav: list[Any]) -> bool:
    """Replace the nav entry ``{title: "tasks/index.md"}`` by the generated section."""
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if value == TASKS_INDEX:
                nav[i] = {title: _tasks_nav()}
                return True
            if isinstance(value, list) and _expand(value):
                return True
    return False


def on_config(config: Any) -> Any:
    if config.nav is not None:
        _expand(config.nav)
    return config


def on_files(files: Files, config: Any) -> Files:
    for path, text in generated_pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files
