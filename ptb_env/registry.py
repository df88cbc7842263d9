"""The agent registry: agents by name, for the CLI, the distributed runner and your own loops.

The library never imports the packages that provide agents: they register their agents
here. A package names the module that registers its agents in its ``ptb_env.agents``
entry points (the baselines, ``ptb_agents``, do so in this project's ``pyproject.toml``):

```toml
[project.entry-points."ptb_env.agents"]
my_agents = "my_package.agents"
```

The registry imports those modules the first time it is used, so ``import ptb_env`` stays
light. Agents of your own can also be registered in code; a registration in code wins over
one from an entry point:

>>> from ptb_env.registry import list_agents, make_agent, register_agent
>>> class Submit:
...     name = "submit-now"
...     def reset(self, obs, info, seed): pass
...     def act(self, obs, info): return {"tool": "submit", "args": {}}
>>> register_agent("submit-now", lambda env, **kwargs: Submit(**kwargs))
>>> make_agent("submit-now", env=None).name
'submit-now'
>>> {"noop", "scripted-sft", "submit-now"} <= set(list_agents())
True
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ptb_env.errors import AgentNotFound

if TYPE_CHECKING:
    import gymnasium as gym

    from ptb_env.rollout import Agent

ENTRY_POINT_GROUP = "ptb_env.agents"
"""Entry-point group of the modules that register agents when imported."""

AgentFactory = Callable[..., "Agent"]
"""Makes an agent: ``factory(env, **kwargs) -> Agent``; ``env`` is ``None`` where there is none."""

_factories: dict[str, AgentFactory] = {}
_entry_points_loaded = False


def _load_entry_points() -> None:
    """Import each module of the ``ptb_env.agents`` entry points, once per process.

    A module that fails to import is reported by a warning; the others still register.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True  # first: an entry point's module calls register_agent while it loads
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as err:  # noqa: BLE001 - one broken plugin must not hide the other agents
            warnings.warn(
                f"Could not load the agents of entry point {entry.name!r} ({entry.value}): "
                f"{type(err).__name__}: {err}",
                RuntimeWarning,
                stacklevel=3,
            )


def register_agent(name: str, factory: AgentFactory) -> None:
    """Register ``factory(env, **kwargs) -> Agent`` under ``name``.

    The entry points are loaded first, so a registration in code replaces an agent of the
    same name from an entry point (with a warning, as any replacement of another factory).

    Args:
        name: The agent's name (``ptb-env run --agent NAME``, ``EpisodeSpec(NAME)``).
        factory: Called with the env (or ``None``) and the caller's keywords. To reach a
            Ray worker by name, register it from an entry point: a worker process knows
            only those (or pass the factory itself to ``EpisodeSpec``).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"Expect the agent's name as a non-empty string, actually: {name!r}")
    if not callable(factory):
        raise TypeError(f"Expect a factory f(env, **kwargs) -> agent, actually: {factory!r}")
    _load_entry_points()
    old = _factories.get(name)
    if old is not None and old is not factory:
        warnings.warn(f"Agent {name!r} is registered again; the new factory replaces {old!r}.", stacklevel=2)
    _factories[name] = factory


def list_agents() -> list[str]:
    """The names of the registered agents, sorted."""
    _load_entry_points()
    return sorted(_factories)


def agent_factory(name: str) -> AgentFactory:
    """The factory registered under ``name``.

    Raises:
        AgentNotFound: No agent of that name; the message names the closest one.
    """
    _load_entry_points()
    try:
        return _factories[name]
    except KeyError:
        raise AgentNotFound(name, _factories) from None


def make_agent(name: str, env: gym.Env | None = None, **kwargs: Any) -> Agent:
    """A registered agent by name, made for ``env`` with the factory's keywords.

    Raises:
        AgentNotFound: No agent of that name; the message names the closest one.
    """
    return agent_factory(name)(env, **kwargs)


__all__ = [
    "ENTRY_POINT_GROUP",
    "AgentFactory",
    "agent_factory",
    "list_agents",
    "make_agent",
    "register_agent",
]
