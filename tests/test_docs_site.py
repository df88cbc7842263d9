"""The documentation site builds with ``mkdocs build --strict`` and its generated pages are complete.

The task pages and the tool reference are generated at build time from the task and tool
registries (``docs/hooks/gen_pages.py``); these tests check the built HTML against the same
registries. They need the ``docs`` extra (``pip install -e ".[docs]"``) and are skipped without it.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest

from ptb_env.tasks import get_task, list_tasks
from ptb_env.tools import default_tools

REPO = Path(__file__).resolve().parents[1]
DOCS_EXTRA = 'the docs extra is not installed (pip install -e ".[docs]")'

pytest.importorskip("mkdocs", reason=f"mkdocs: {DOCS_EXTRA}")
pytest.importorskip("material", reason=f"mkdocs-material: {DOCS_EXTRA}")
pytest.importorskip("mkdocstrings_handlers.python", reason=f"mkdocstrings[python]: {DOCS_EXTRA}")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built with ``mkdocs build --strict`` into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "-f",
        str(REPO / "mkdocs.yml"),
        "-d",
        str(out),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    print(f"mkdocs build --strict: {seconds:.1f} s")
    return out


def page_text(site: Path, page: str) -> str:
    """The unescaped HTML of a built page (``"tasks/gsm8k"`` -> ``tasks/gsm8k/index.html``)."""
    path = site / page / "index.html"
    assert path.is_file(), f"{page} was not built (no {path.relative_to(site)})"
    return html.unescape(path.read_text(encoding="utf-8"))


def test_every_registered_task_is_on_its_benchmark_page_and_the_index(site: Path):
    index = page_text(site, "tasks")
    for task_id in list_tasks():
        spec = get_task(task_id)
        assert f"<code>{task_id}</code>" in page_text(site, f"tasks/{spec.benchmark}"), task_id
        assert f"<code>{task_id}</code>" in index, task_id


def test_every_posttrain_gym_id_is_on_a_task_page(site: Path):
    pages = "".join(page_text(site, f"tasks/{b}") for b in {get_task(t).benchmark for t in list_tasks()})
    # the task ids: PostTrainRemote-v0 (registered once ptb_env.remote is imported, as test_openenv
    # does earlier in the suite) is a client of a server, not a task, and has docs/serve.md
    ids = [i for i in gym.registry if i.startswith("PostTrain") and i != "PostTrainRemote-v0"]
    assert ids
    missing = [i for i in ids if f"<code>{i}</code>" not in pages]
    assert not missing, f"registered ids missing from the task pages: {missing}"


def test_task_pages_have_the_minigrid_sections(site: Path):
    sections = ("Action Space", "Observation Space", "Rewards", "Termination", "Registered Configurations")
    for benchmark in {get_task(t).benchmark for t in list_tasks()}:
        text = page_text(site, f"tasks/{benchmark}")
        missing = [s for s in sections if not re.search(rf"<h2 id=\"[^\"]+\">{s}", text)]
        assert not missing, f"tasks/{benchmark} lacks {missing}"


def test_tool_reference_lists_every_tool_and_parameter(site: Path):
    text = page_text(site, "tools")
    for name, tool in default_tools().items():
        assert f'id="{name}"' in text, f"no section for tool {name}"
        section = text.split(f'id="{name}"', 1)[1].split("<h2", 1)[0]
        for param in tool.parameters["properties"]:
            assert f"<code>{param}</code>" in section, f"{name}: parameter {param} not listed"


def test_api_pages_render_every_documented_module(site: Path):
    pages = [p for p in sorted((REPO / "docs" / "api").glob("*.md")) if p.stem != "index"]
    assert pages
    for md in pages:
        targets = re.findall(r"^::: ([\w.]+)", md.read_text(encoding="utf-8"), flags=re.M)
        text = page_text(site, f"api/{md.stem}")
        missing = [t for t in targets if f'id="{t}"' not in text]
        assert not missing, f"api/{md.name}: mkdocstrings rendered nothing for {missing}"


def test_docstring_doctests_render_as_code_not_quotes(site: Path):
    text = page_text(site, "api/leaderboard")
    assert "<blockquote>" not in text
    assert '<span class="gp">>>> </span>' in text  # a highlighted pycon prompt


def test_sphinx_roles_render_as_code_not_as_roles(site: Path):
    pages = [p.stem for p in (REPO / "docs" / "api").glob("*.md") if p.stem != "index"]
    leftover = {
        p: m
        for p in pages
        if (m := re.findall(r":(?:func|class|meth|attr|data|mod|exc):", page_text(site, f"api/{p}")))
    }
    assert not leftover, f"Sphinx roles left in the rendered API pages: {leftover}"
