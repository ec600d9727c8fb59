"""The list of command-group modules. Add one line per group module (each has ``register``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from correlator.cli import accuracy, bench, dataset, db, replay, rules_cmd, scenarios, serve

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRY: list[Register] = []
REGISTRY.append(rules_cmd.register)
REGISTRY.append(serve.register)
REGISTRY.append(scenarios.register)
REGISTRY.append(replay.register)
REGISTRY.append(db.register)
REGISTRY.append(bench.register)
REGISTRY.append(dataset.register)
REGISTRY.append(accuracy.register)
