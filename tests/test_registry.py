"""ptb_env.registry: agents by name, the baselines found through their entry point."""

from __future__ import annotations

import doctest
import importlib.metadata
import subprocess
import sys

import pytest

import ptb_env.registry as registry
from ptb_env.errors import AgentNotFound, PtbEnvError

BASELINES = {"llm", "noop", "random", "scripted-sft", "search"}


@pytest.fixture
def fresh(monkeypatch):
    """The registry as loaded from the entry points, restored after the test."""
    registry.list_agents()
    monkeypatch.setattr(registry, "_factories", dict(registry._factories))
    return registry


def test_docstring_examples_hold(fresh):
    assert doctest.testmod(registry).failed == 0


def test_the_baselines_register_through_their_entry_point():
    (entry,) = [e for e in importlib.metadata.entry_points(group=registry.ENTRY_POINT_GROUP)]
    assert entry.value == "ptb_agents"
    assert BASELINES <= set(registry.list_agents())


def test_importing_the_library_does_not_import_the_baselines():
    code = (
        "import sys, ptb_env, ptb_env.cli, ptb_env.distributed, ptb_env.registry, ptb_env.rollout; "
        "assert 'ptb_agents' not in sys.modules, 'ptb_agents imported'; "
        "ptb_env.registry.list_agents(); assert 'ptb_agents' in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_an_unknown_name_suggests_the_closest_one():
    with pytest.raises(AgentNotFound, match="Did you mean: 'noop'") as info:
        registry.make_agent("nop", None)
    assert isinstance(info.value, KeyError) and isinstance(info.value, PtbEnvError)


def test_a_registration_in_code_replaces_the_entry_points_with_a_warning(fresh):
    mine = object()
    with pytest.warns(UserWarning, match="'noop' is registered again"):
        fresh.register_agent("noop", lambda env, **kwargs: mine)
    assert fresh.make_agent("noop", None) is mine


def test_the_factory_gets_the_env_and_the_keywords(fresh):
    fresh.register_agent("echo", lambda env, **kwargs: (env, kwargs))
    assert fresh.make_agent("echo", "the env", seed=3) == ("the env", {"seed": 3})


def test_a_broken_entry_point_warns_and_the_rest_still_load(monkeypatch, tmp_path):
    (tmp_path / "ptb_test_plugin_agents.py").write_text(
        "from ptb_env.registry import register_agent\n"
        "register_agent('plugged', lambda env, **kwargs: 'plugged in')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = registry.ENTRY_POINT_GROUP
    broken = importlib.metadata.EntryPoint("broken", "no_such_module_for_ptb_env", group)
    good = importlib.metadata.EntryPoint("plugin", "ptb_test_plugin_agents", group)
    monkeypatch.setattr(registry, "_factories", {})
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: [broken, good])
    with pytest.warns(RuntimeWarning, match="entry point 'broken'"):
        assert registry.list_agents() == ["plugged"]
    assert registry.make_agent("plugged", None) == "plugged in"
    monkeypatch.delitem(sys.modules, "ptb_test_plugin_agents")


def test_a_name_must_be_a_string_and_the_factory_callable(fresh):
    with pytest.raises(TypeError):
        fresh.register_agent("", lambda env: None)
    with pytest.raises(TypeError):
        fresh.register_agent("x", "not callable")
