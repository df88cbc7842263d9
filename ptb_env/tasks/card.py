"""The task card: the prompt an agent needs (model, benchmark, rules, tools, budget)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ptb_env.tasks.spec import TaskSpec
from ptb_env.workspace import TASK_CARD_TEMPLATE

RULES = (
    "Work autonomously; nobody will answer questions.",
    "Post-train the given base model only: do not download or substitute another model.",
    "Do not train on the benchmark's test data; the test split is hidden and graded after you submit.",
    "Leave the checkpoint to be graded in `final_model/` (the base model's architecture and tokenizer, "
    "safetensors weights). Grading uses the task's own chat template, not yours.",
    "Grading kills every process you started, then copies `final_model/`: finish writing before you submit.",
)


def _budget_line(task: TaskSpec, params: int | None = None) -> str:
    parts = []
    if params is not None and task.compute_tflop is not None:
        from ptb_env.compute import budget_note

        parts.append(f"{task.compute_tflop:g} TFLOP of compute ({budget_note(params, task.dev_limit)})")
    elif task.time_limit_s is not None:
        parts.append(f"{task.time_limit_s / 60:g} minutes of wall-clock time")
    if task.max_steps is not None:
        parts.append(f"{task.max_steps} tool calls")
    if task.max_dev_evals is not None:
        parts.append(f"{task.max_dev_evals} dev evaluations")
    if params is not None and task.time_limit_s is not None:
        parts.append(f"and a safety limit of {task.time_limit_s / 60:g} minutes of wall-clock time")
    return ", ".join(parts) or "unlimited"


def render_task_card(
    task: TaskSpec, tools: Mapping[str, Any], workspace: str = "/workspace", compute_params: int | None = None
) -> str:
    """The task card of ``task`` (Markdown), listing ``tools`` by name and description.

    ``compute_params``: the base model's parameters when the episode runs on the compute budget
    (:mod:`ptb_env.compute`; ``task.time_limit_s`` is then its safety limit), else ``None``.

    ``workspace`` is the workspace as the agent names it: the env passes its sandbox's
    ``paths.workspace`` (``/workspace`` under bubblewrap, the episode's host directory
    with ``sandbox="none"``); the default is bubblewrap's, for docs.
    """
    tool_lines = "\n".join(f"- `{name}`: {t.description}" for name, t in tools.items())
    body = "\n".join(
        [
            task.goal,
            "",
            f"- Base model: `{workspace}/base_model` (benchmark: {task.benchmark}"
            + (f"; {task.gpus} GPU{'s' if task.gpus > 1 else ''}" if task.gpus else "")
            + ("; the network is open" if task.network else "; no network")
            + ").",
            f"- Budget: {_budget_line(task, compute_params)}. The episode ends when you call `submit` or "
            "the budget runs out; either way `final_model/` is graded, and grading is not charged to the "
            "budget.",
            f"- Dev scores: `evaluate` scores the first {task.dev_limit} items of the {task.dev_split} "
            "split unless you pass `limit`"
            + ("" if task.dev_split == "test" else " (or another dev split: `split`)")
            + "; each call uses one dev evaluation.",
            "",
            "## Rules",
            *(f"- {r}" for r in (*RULES, *task.card_rules)),
            "",
            "## Tools",
            'Call a tool with {"tool": "<name>", "args": {...}}.',
            tool_lines,
            "",
            "## Hints",
            *(f"- {h}" for h in task.hints),
        ]
    )
    return TASK_CARD_TEMPLATE.format(title=task.title, body=body, workspace=workspace)


def card_sections(card: str) -> tuple[str, dict[str, str]]:
    """A rendered card split at its ``## `` headings: ``(intro, {heading: section text})``.

    The section texts keep their heading line; joining the intro and the sections in order
    gives the card back. The card's format has one owner, this module: callers that show
    part of a card (the TRL adapter) take sections from here instead of editing its text.
    """
    intro, *rest = card.split("\n## ")
    sections = {}
    for part in rest:
        heading = part.split("\n", 1)[0].strip()
        sections[heading] = "## " + part
    return intro, sections


def card_without(card: str, *headings: str) -> str:
    """The card without the sections named ``headings`` (e.g. ``"Tools"``)."""
    intro, sections = card_sections(card)
    kept = [text for heading, text in sections.items() if heading not in headings]
    return "\n".join([intro.rstrip("\n") + "\n", *kept]).rstrip("\n") + "\n"
