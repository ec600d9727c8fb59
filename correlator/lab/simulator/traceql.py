"""The TraceQL subset the simulator understands (test double; real Tempo is the reference).

``{ cond }`` where cond combines comparisons with ``&&``, ``||`` and parentheses; fields are
intrinsics (``status``, ``duration``, ``name``, ``kind``, ``statusMessage``) and attributes
(``resource.x``, ``span.x``, ``.x`` = either scope); operators ``= != > >= < <= =~ !~``; values
are strings, numbers, durations (``500ms``, ``1.5s``) or enum words (``error``, ``server``).
``{}`` matches every span. A trace matches when at least one span matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<dur>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))\b'
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>&&|\|\||=~|!~|!=|>=|<=|=|>|<)"
    r"|(?P<punct>[{}()])|(?P<ident>[A-Za-z_.][A-Za-z0-9_.:-]*))"
)
_DUR = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60 * 10**9}
_DUR["h"] = 3600 * 10**9
_ENUMS = {"error", "ok", "unset", "server", "client", "internal", "producer", "consumer"}


class TraceQLError(ValueError):
    """Outside the supported subset (the simulator answers 400, like Tempo on a parse error)."""


@dataclass(frozen=True)
class SpanView:
    """What a span exposes to a query (built by the data store)."""

    name: str
    kind: str  # server, client, ...
    status: str  # error, ok, unset
    status_message: str
    duration_ns: int
    span_attrs: dict[str, Any]
    resource_attrs: dict[str, Any]


Pred = Callable[[SpanView], bool]


def _tokens(q: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    q = q.strip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise TraceQLError(f"unsupported TraceQL at {pos}: {q[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(q) and q[pos].isspace():
            pos += 1
    return out


def _value(kind: str, text: str) -> Any:
    if kind == "str":
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if kind == "dur":
        unit = re.sub(r"[\d.]", "", text)
        return int(float(text[: -len(unit)]) * _DUR[unit])
    if kind == "num":
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    if text in _ENUMS:
        return text
    raise TraceQLError(f"unsupported value {text!r}")


def _field(span: SpanView, name: str) -> Any:
    intrinsic = {
        "status": span.status,
        "duration": span.duration_ns,
        "name": span.name,
        "kind": span.kind,
        "statusMessage": span.status_message,
    }
    if name in intrinsic:
        return intrinsic[name]
    if name.startswith("resource."):
        return span.resource_attrs.get(name[9:])
    if name.startswith("span."):
        return span.span_attrs.get(name[5:])
    if name.startswith("."):
        key = name[1:]
        return span.span_attrs.get(key, span.resource_attrs.get(key))
    raise TraceQLError(f"unsupported field {name!r}")


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None:
        return op == "!=" and right is not None
    if op in ("=~", "!~"):
        hit = re.fullmatch(str(right), str(left)) is not None
        return hit if op == "=~" else not hit
    if isinstance(right, (int, float)) and not isinstance(right, bool):
        try:
            lv = float(left)
        except (TypeError, ValueError):
            return False
        rv = float(right)
        return {
            "=": lv == rv,
            "!=": lv != rv,
            ">": lv > rv,
            ">=": lv >= rv,
            "<": lv < rv,
            "<=": lv <= rv,
        }[op]
    if op in ("=", "!="):
        return (str(left) == str(right)) == (op == "=")
    raise TraceQLError(f"operator {op} needs a number or duration")


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks, self.i = toks, 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if text is not None and tok[1] != text:
            raise TraceQLError(f"expected {text!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def or_(self) -> Pred:
        left = self.and_()
        while self.peek()[1] == "||":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def and_(self) -> Pred:
        left = self.atom()
        while self.peek()[1] == "&&":
            self.take()
            right = self.atom()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def atom(self) -> Pred:
        if self.peek()[1] == "(":
            self.take("(")
            inner = self.or_()
            self.take(")")
            return inner
        kind, name = self.take()
        if kind != "ident":
            raise TraceQLError(f"expected a field, got {name!r}")
        _, op = self.take()
        if op not in {"=", "!=", ">", ">=", "<", "<=", "=~", "!~"}:
            raise TraceQLError(f"unsupported operator {op!r}")
        vkind, vtext = self.take()
        value = _value(vkind, vtext)
        return lambda s: _compare(_field(s, name), op, value)


def compile_query(q: str) -> Pred:
    """A span predicate for ``{ ... }``; raises ``TraceQLError`` outside the subset."""
    toks = _tokens(q)
    if not toks or toks[0][1] != "{" or toks[-1][1] != "}":
        raise TraceQLError("query must be a single spanset filter { ... }")
    inner = toks[1:-1]
    if not inner:
        return lambda s: True
    parser = _Parser(inner)
    pred = parser.or_()
    if parser.i != len(inner):
        raise TraceQLError(f"unexpected {parser.peek()[1]!r}")
    return pred


def referenced_attributes(q: str) -> list[str]:
    """Attribute names a query mentions (Tempo returns those on matched spans)."""
    names: list[str] = []
    for kind, text in _tokens(q):
        if kind == "ident" and (text.startswith(("resource.", "span.", "."))):
            key = text.split(".", 1)[1] if not text.startswith(".") else text[1:]
            if key not in names:
                names.append(key)
    return names
