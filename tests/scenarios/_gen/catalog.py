"""The scenario descriptions: one small declaration per scenario (see docs/scenarios.md)."""

from __future__ import annotations

from .catalog_demo import DEMO
from .catalog_diffs import DIFFS
from .catalog_orders import ORDERS
from .catalog_sock import SOCK
from .spec import ScenarioSpec


def all_specs() -> list[ScenarioSpec]:
    specs = [*ORDERS, *DEMO, *SOCK, *DIFFS]
    ids = [s.id for s in specs]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate scenario ids: {sorted(dupes)}")
    return specs
