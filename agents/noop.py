"""noop: submits the base model unchanged (reward exactly 0)."""

from __future__ import annotations

from typing import Any


class NoopAgent:
    """Copies the base model into ``final_model/`` and submits it."""

    name = "noop"

    def reset(self, obs: dict[str, Any], info: dict[str, Any], seed: int | None) -> None:
        self._actions = [
            {"tool": "bash", "args": {"command": "cp -rL base_model/. final_model/"}},
            {"tool": "submit", "args": {}},
        ]

    def act(self, obs: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._actions.pop(0) if self._actions else {"tool": "submit", "args": {}}
