"""OpenTelemetry demo failure flags (REFERENCE.md §3)."""

from __future__ import annotations

from .spec import ScenarioSpec

DEMO: list[ScenarioSpec] = []
