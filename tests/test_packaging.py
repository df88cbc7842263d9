"""pyproject.toml lists every package (they are listed because agents/ maps to ptb_agents)."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]


def test_every_ptb_env_package_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ptb_env").rglob("__init__.py")}
    assert found <= set(cfg["packages"]), f"add to pyproject packages: {sorted(found - set(cfg['packages']))}"
    assert cfg["package-dir"]["ptb_agents"] == "agents"
