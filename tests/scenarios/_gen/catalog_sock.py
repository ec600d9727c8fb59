"""RCAEval fault families on a Sock Shop-like stack."""

from __future__ import annotations

from .spec import ScenarioSpec

SOCK: list[ScenarioSpec] = []
