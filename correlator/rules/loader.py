"""Load and merge ``rules/*.yaml``; every problem is reported with its file AND line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from correlator.errors import ConfigError
from correlator.rules.ruleset import RuleSet
from correlator.rules.schema import RulesFile, SignalName
from correlator.rules.templates import template_problems


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RulesError(ConfigError):
    """Invalid rules; ``problems`` carries every file:line found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class LineDict(dict[Any, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader that records line numbers and rejects duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [n.start_mark.line + 1 for n in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(data: object, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node along a pydantic error location."""
    line = getattr(data, "line", 1)
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def parse_file(path: Path) -> tuple[RulesFile | None, list[Problem], object]:
    """Parse one file. Returns (file or None, problems, raw data with line info)."""
    name = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, [Problem(name, line, f"YAML: {exc.problem or exc}")], None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, [Problem(name, 1, f"cannot read: {exc}")], None
    if data is None:
        data = LineDict()
    if not isinstance(data, dict):
        return None, [Problem(name, 1, "top level must be a mapping")], data
    try:
        rf = RulesFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                name,
                _line_of(data, tuple(err["loc"])),
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}",
            )
            for err in exc.errors()
        ]
        return None, problems, data
    bad = [Problem(name, _line_of(data, loc), msg) for loc, msg in template_problems(rf)]
    return (None if bad else rf), bad, data


def _merge(files: list[tuple[Path, RulesFile, object]]) -> tuple[RuleSet | None, list[Problem]]:
    problems: list[Problem] = []
    seen_rules: dict[str, str] = {}
    seen_metrics: dict[str, str] = {}
    merged: dict[str, Any] = {"rules": [], "metrics": [], "weights": {}, "sources": []}
    singletons = ("remediation", "next_queries", "thresholds", "settings", "fault_typing")
    owner: dict[str, str] = {}
    for path, rf, raw in files:
        merged["sources"].append(str(path))
        for i, rule in enumerate(rf.rules):
            where = f"{path}:{_line_of(raw, ('rules', i))}"
            if rule.name in seen_rules:
                problems.append(
                    Problem(
                        str(path),
                        _line_of(raw, ("rules", i)),
                        f"rule {rule.name!r} already defined at {seen_rules[rule.name]}",
                    )
                )
            seen_rules[rule.name] = where
            merged["rules"].append(rule)
        for i, m in enumerate(rf.metrics):
            where = f"{path}:{_line_of(raw, ('metrics', i))}"
            if m.name in seen_metrics:
                problems.append(
                    Problem(
                        str(path),
                        _line_of(raw, ("metrics", i)),
                        f"metric {m.name!r} already defined at {seen_metrics[m.name]}",
                    )
                )
            seen_metrics[m.name] = where
            merged["metrics"].append(m)
        for sig, w in rf.weights.items():
            if sig in merged["weights"]:
                problems.append(
                    Problem(
                        str(path),
                        _line_of(raw, ("weights", sig.value)),
                        f"weight of {sig.value} set in two files",
                    )
                )
            merged["weights"][sig] = w
        for key in singletons:
            value = getattr(rf, key)
            if value is None:
                continue
            if key in owner:
                problems.append(
                    Problem(
                        str(path), _line_of(raw, (key,)), f"{key!r} already defined in {owner[key]}"
                    )
                )
            owner[key] = str(path)
            merged[key] = value
    if problems:
        return None, problems
    return RuleSet(**merged), []


def check_directory(directory: Path) -> tuple[RuleSet | None, list[Problem]]:
    """Validate every ``*.yaml``/``*.yml`` in ``directory`` (sorted by name)."""
    if not directory.is_dir():
        return None, [Problem(str(directory), 0, "not a directory")]
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        return None, [Problem(str(directory), 0, "no *.yaml rules files")]
    parsed: list[tuple[Path, RulesFile, object]] = []
    problems: list[Problem] = []
    for path in paths:
        rf, errs, raw = parse_file(path)
        problems.extend(errs)
        if rf is not None:
            parsed.append((path, rf, raw))
    if problems:
        return None, problems
    return _merge(parsed)


def load_ruleset(directory: Path) -> RuleSet:
    """Load and merge a rules directory; raises ``RulesError`` listing every file:line."""
    ruleset, problems = check_directory(directory)
    if ruleset is None:
        raise RulesError(problems)
    return ruleset


__all__ = ["Problem", "RulesError", "SignalName", "check_directory", "load_ruleset"]
