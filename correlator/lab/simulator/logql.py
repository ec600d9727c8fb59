"""The LogQL subset the simulator understands (test double; real Loki is the reference).

Log queries: a stream selector ``{a="x", b=~"re", c!="y", d!~"re"}`` followed by any of
line filters ``|= != |~ !~`` and label filters ``| name op "value"`` (matched against stream
labels, structured metadata and labels from ``| json`` / ``| logfmt``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from correlator.wire.promql import unquote

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_LINE = re.compile(r'\s*(\|=|!=|\|~|!~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)')
_STAGE = re.compile(r"\s*\|\s*(json|logfmt)\b")
_LABEL = re.compile(r'\s*\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_CLOSE = re.compile(r"\s*\}")
_LOGFMT = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)')


class LogQLError(ValueError):
    """Outside the supported subset (answered with 400 like Loki's parse errors)."""


@dataclass
class Entry:
    ts: int
    line: str
    labels: dict[str, str]
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Selected:
    entry: Entry
    parsed: dict[str, str]


def _unquote(text: str) -> str:
    """A Go string literal's value (Loki parses with ``strconv.Unquote``: ``\\"``, ``\\xNN``)."""
    try:
        return unquote(text)
    except ValueError as exc:
        raise LogQLError(f"bad string literal {text[:40]!r}: {exc}") from exc


def _match(op: str, have: str | None, want: str) -> bool:
    value = have or ""
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    hit = re.fullmatch(want, value) is not None
    return hit if op == "=~" else not hit


def _parse_line(kind: str, line: str) -> dict[str, str]:
    if kind == "json":
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            return {"__error__": "JSONParserErr"}
        return {k: str(v) for k, v in doc.items() if isinstance(v, str | int | float | bool)}
    out = {}
    for m in _LOGFMT.finditer(line):
        raw = m.group(2)
        out[m.group(1).replace(".", "_")] = json.loads(raw) if raw.startswith('"') else raw
    return out


Stage = Callable[[Selected], bool]


@dataclass
class LogQuery:
    matchers: list[tuple[str, str, str]]
    stages: list[Stage]

    def select(self, entries: list[Entry]) -> list[Selected]:
        out = []
        for e in entries:
            if not all(_match(op, e.labels.get(k), v) for k, op, v in self.matchers):
                continue
            sel = Selected(e, {})
            if all(stage(sel) for stage in self.stages):
                out.append(sel)
        return out


def _line_stage(op: str, text: str) -> Stage:
    if op == "|=":
        return lambda s: text in s.entry.line
    if op == "!=":
        return lambda s: text not in s.entry.line
    rx = re.compile(text)
    if op == "|~":
        return lambda s: rx.search(s.entry.line) is not None
    return lambda s: rx.search(s.entry.line) is None


def _parser_stage(kind: str) -> Stage:
    def run(s: Selected) -> bool:
        for k, v in _parse_line(kind, s.entry.line).items():
            name = f"{k}_extracted" if k in s.entry.labels else k
            if name not in s.entry.metadata:
                s.parsed[name] = v
        return True

    return run


def _label_stage(name: str, op: str, value: str) -> Stage:
    def run(s: Selected) -> bool:
        have = s.entry.labels.get(name, s.entry.metadata.get(name, s.parsed.get(name)))
        return _match(op, have, value)

    return run


def _selector(q: str) -> tuple[list[tuple[str, str, str]], int]:
    """The matchers of the stream selector at the start of ``q`` and where it ends; quoted
    values may hold ``}``, ``,`` and escaped quotes, as in Loki."""
    matchers: list[tuple[str, str, str]] = []
    pos = 1
    while (end := _CLOSE.match(q, pos)) is None:
        m = _MATCHER.match(q, pos)
        if not m:
            raise LogQLError(f"bad stream selector near {q[pos : pos + 30]!r}")
        matchers.append((m.group(1), m.group(2), _unquote(f'"{m.group(3)}"')))
        pos = m.end()
    if not matchers:
        raise LogQLError("queries require at least one matcher")
    return matchers, end.end()


def parse(query: str) -> LogQuery:
    q = query.strip()
    if not q.startswith("{"):
        raise LogQLError("only log queries with a stream selector are supported")
    matchers, pos = _selector(q)
    stages: list[Stage] = []
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        if m := _LINE.match(q, pos):
            stages.append(_line_stage(m.group(1), _unquote(m.group(2))))
        elif m := _STAGE.match(q, pos):
            stages.append(_parser_stage(m.group(1)))
        elif m := _LABEL.match(q, pos):
            value = _unquote(f'"{m.group(3)}"')
            stages.append(_label_stage(m.group(1), m.group(2), value))
        else:
            raise LogQLError(f"unsupported LogQL near {q[pos : pos + 30]!r}")
        pos = m.end()
    return LogQuery(matchers, stages)
