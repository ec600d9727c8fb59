"""What the failure says about the code, to find the hunks of a diff that explain it.

From the incident traces of the changed service: ``code.filepath``/``code.file.path``,
``code.function``/``code.function.name`` and ``code.lineno``/``code.line.number`` span
attributes, the frames of ``exception.stacktrace`` events, exception messages, the tables and
columns of db statements, the feature flags evaluated on; from its error logs: stack frames and
``key=value`` keys; from the change's own description: the config keys it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from correlator.models import Change, ServiceLogPatterns, Span, TraceEvidence, TraceLogs

_EXT = r"(?:go|py|java|kt|js|mjs|ts|tsx|rb|rs|cs|php|scala|c|cc|cpp|h|hpp|swift|ex|exs)"
_FRAME_PATH = re.compile(r"([\w./@+-]+\." + _EXT + r")\b(?:\"?, line |:)?(\d+)?")
_FUNC = re.compile(r"(?:\bin ([A-Za-z_]\w+)|\bat ([\w.$<>]+)\s*\(|([\w./*()]+\.[A-Za-z_]\w*)\()")
_TABLE = re.compile(r"\b(?:from|join|update|into)\s+([A-Za-z_][\w.]*)", re.I)
_COLUMN = re.compile(
    r"(?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)\s*(?:=|<>|!=|<|>|\bin\b|\blike\b|\bis\b)", re.I
)
_QUOTED = re.compile(r"['\"`]([A-Za-z_][\w.-]{2,60})['\"`]")
_KEY = re.compile(r"\b([A-Za-z_][\w-]*(?:[._][A-Za-z_][\w-]*)+)\b")
_KV_KEY = re.compile(r"\b([A-Za-z_][\w.-]{2,60})=")
_SQL_WORDS = {"select", "and", "or", "not", "null", "where", "on", "set", "values", "as"}
_OFF = {"", "off", "false", "disabled", "0", "control", "default", "none"}
PATH_ATTRS = ("code.filepath", "code.file.path")
FUNC_ATTRS = ("code.function", "code.function.name")
LINE_ATTRS = ("code.lineno", "code.line.number")
MAX_TEXTS = 200


@dataclass
class Clues:
    """Lower-cased facts a hunk can match (each set bounded by what the evidence holds)."""

    paths: set[str] = field(default_factory=set)
    lines: set[tuple[str, int]] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)
    flags: set[str] = field(default_factory=set)
    config_keys: set[str] = field(default_factory=set)
    symbols: set[str] = field(default_factory=set)
    stack_text: list[str] = field(default_factory=list)

    def add_stack(self, text: str) -> None:
        """Frames (path, line, function) of a stack trace or log line."""
        if len(self.stack_text) < MAX_TEXTS:
            self.stack_text.append(text.lower())
        for m in _FRAME_PATH.finditer(text):
            path = _norm_path(m.group(1))
            self.paths.add(path)
            if m.group(2):
                self.lines.add((path, int(m.group(2))))
        for m in _FUNC.finditer(text):
            name = next(g for g in m.groups() if g)
            self._add_function(name)

    def _add_function(self, raw: str) -> None:
        last = re.split(r"[.:/)(*]+", raw.strip("()*"))
        tail = [p for p in last if p]
        if tail and len(tail[-1]) >= 3:
            self.functions.add(tail[-1].lower())

    def add_config_key(self, key: str) -> None:
        """A config key and, for ``a.b.c_d``, its leaf ``c_d`` (nested YAML/TOML spells only
        the leaf on the changed line)."""
        key = key.lower()
        self.config_keys.add(key)
        leaf = re.split(r"[.]", key)[-1]
        if leaf != key and len(leaf) >= 4 and ("_" in leaf or len(leaf) >= 8):
            self.config_keys.add(leaf)

    def add_statement(self, stmt: str) -> None:
        self.tables.update(t.group(1).lower().split(".")[-1] for t in _TABLE.finditer(stmt))
        for c in _COLUMN.finditer(stmt):
            name = c.group(1).lower()
            if name not in _SQL_WORDS and not name.startswith("$"):
                self.columns.add(name)

    def add_span(self, span: Span) -> None:
        attrs = span.attributes
        path = next((str(attrs[k]) for k in PATH_ATTRS if isinstance(attrs.get(k), str)), None)
        if path:
            self.paths.add(_norm_path(path))
            line = next((attrs[k] for k in LINE_ATTRS if isinstance(attrs.get(k), int)), None)
            if isinstance(line, int):
                self.lines.add((_norm_path(path), line))
        for key in FUNC_ATTRS:
            value = attrs.get(key)
            if isinstance(value, str) and value:
                self._add_function(value)
        for key in ("db.statement", "db.query.text"):
            value = attrs.get(key)
            if isinstance(value, str):
                self.add_statement(value)
        for ev in span.events:
            if ev.name != "exception":
                continue
            trace = ev.attributes.get("exception.stacktrace")
            if isinstance(trace, str):
                self.add_stack(trace)
            message = ev.attributes.get("exception.message")
            if isinstance(message, str):
                self.symbols.update(q.lower() for q in _QUOTED.findall(message))


def _norm_path(path: str) -> str:
    return str(PurePosixPath(path.strip().lower().replace("\\", "/")))


def gather_clues(
    service: str,
    traces: Sequence[TraceEvidence],
    logs: Sequence[TraceLogs],
    patterns: Sequence[ServiceLogPatterns],
    changes: Iterable[Change],
) -> Clues:
    """The clues about ``service``'s failing code in the incident (non-baseline) evidence."""
    clues = Clues()
    for te in traces:
        if te.baseline:
            continue
        for span in te.trace.spans:
            if span.service == service:
                clues.add_span(span)
        for f in te.analysis.flags:
            if f.service == service and (f.variant or "").strip().lower() not in _OFF:
                clues.flags.add(f.key.lower())
        for stmt in te.analysis.db_statements:
            clues.add_statement(stmt)
    texts = [ln.line for tl in logs for ln in tl.lines if ln.service in (None, service)]
    texts += [t for p in patterns if p.service == service for lp in p.patterns for t in lp.samples]
    for text in texts[:MAX_TEXTS]:
        clues.add_stack(text)
        for key in _KV_KEY.findall(text):
            if "." in key or "_" in key:
                clues.add_config_key(key)
    for c in changes:
        if c.service == service and c.description:
            for key in _KEY.findall(c.description):
                clues.add_config_key(key)
    return clues
