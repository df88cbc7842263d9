"""Griffe extension that makes our docstrings' reST habits render in Markdown.

- Doctests outside ``Examples:`` sections (a module's examples under its first paragraph):
  Markdown reads ``>>>`` as nested quotes and ``f[a](b)`` as a link, so each unindented block
  is fenced as ``pycon`` (``# doctest:`` flags dropped). Blocks inside sections (indented) are
  left to griffe's own parser.
- Sphinx roles (``:func:`x```, ``:class:`~a.B```) become plain code spans (``x``, ``B``).

Nothing in the source changes; only what mkdocstrings renders. Loaded by
``extensions: [docs/hooks/griffe_markdown.py]`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_FLAGS = re.compile(r"\s*# doctest:.*$")
_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj):`(~?)([^`]+)`")


def strip_roles(text: str) -> str:
    """Sphinx roles as code spans (``~`` keeps the last name).

    >>> strip_roles("see :class:`~ptb_env.env.PostTrainEnv` and :func:`ptb_env.gym_id`")
    'see `PostTrainEnv` and `ptb_env.gym_id`'
    """
    return _ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)


def fence_doctests(text: str) -> str:
    """``text`` with each unindented doctest block (``>>>`` up to a blank line) fenced as pycon.

    >>> fence_doctests("Intro.\\n>>> 1 + 1\\n2")
    'Intro.\\n\\n```pycon\\n>>> 1 + 1\\n2\\n```'
    """
    out: list[str] = []
    in_fence = in_block = False
    for line in text.splitlines():
        if in_block and not line.strip():
            out += ["```", line]
            in_block = False
            continue
        if not in_block and line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_block and line.startswith(">>>"):
            if out and out[-1].strip():
                out.append("")
            out.append("```pycon")
            in_block = True
        out.append(_FLAGS.sub("", line) if in_block else line)
    if in_block:
        out.append("```")
    return "\n".join(out)


class MarkdownDocstrings(Extension):
    """Fence top-level doctests and strip Sphinx roles in every docstring (see the module docstring)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(fence_doctests(obj.docstring.value))
