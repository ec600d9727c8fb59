"""Just enough PromQL: string literals, vector selectors, and safe query templates.

Label values reach queries from untrusted alert payloads, so every value is written as a quoted
string literal with Go escapes (PromQL, LogQL and TraceQL share ``strconv.Unquote`` rules), and
never spliced raw. The selector parser is a small tokenizer, not a PromQL implementation: it finds
``metric{matchers}`` selectors and skips function names, grouping label lists
(``by``/``without``/``on``/``ignoring``/``group_left``/``group_right``), range/subquery brackets
``[5m:1m]``, numbers/durations and string arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from correlator.errors import ConfigError

_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"}) | _GROUPING
_NON_SERIES_LABELS = frozenset({"alertname", "alertstate", "__name__"})


def escape_string(value: str) -> str:
    """Content of a double-quoted Go/PromQL/LogQL/TraceQL string literal for ``value``."""
    out: list[str] = []
    for ch in value:
        esc = _SIMPLE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")  # lone surrogate: not UTF-8, can never match a stored label
        else:
            out.append(ch)
    return "".join(out)


def quote(value: str) -> str:
    """``value`` as a complete double-quoted string literal."""
    return f'"{escape_string(value)}"'


def unquote(literal: str) -> str:
    """Inverse of :func:`quote` for the literals PromQL accepts (``"..."``, ``'...'``, backticks).

    Raises ``ValueError`` on an invalid literal (unterminated, bad escape, raw newline).
    """
    if len(literal) < 2 or literal[0] != literal[-1] or literal[0] not in "\"'`":
        raise ValueError(f"not a string literal: {literal!r}")
    q, body = literal[0], literal[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("backtick inside raw string")
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == q or ch == "\n":
            raise ValueError(f"unescaped {ch!r} in string literal")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i, decoded = _unescape(body, i + 1)
        out.append(decoded)
    return "".join(out)


def _unescape(body: str, i: int) -> tuple[int, str]:
    if i >= len(body):
        raise ValueError("dangling backslash")
    c = body[i]
    if c in _UNESCAPES:
        return i + 1, _UNESCAPES[c]
    widths = {"x": 2, "u": 4, "U": 8}
    if c in widths:
        digits = body[i + 1 : i + 1 + widths[c]]
        if len(digits) != widths[c] or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError(f"bad \\{c} escape")
        return i + 1 + widths[c], chr(int(digits, 16))
    digits = body[i : i + 3]
    if len(digits) == 3 and all(d in "01234567" for d in digits):
        return i + 3, chr(int(digits, 8))
    raise ValueError(f"unknown escape \\{c}")


def escape_regex(value: str) -> str:
    """RE2-literal form of ``value`` (every ASCII non-alphanumeric is backslash-escaped)."""
    return "".join(f"\\{c}" if c.isascii() and not c.isalnum() else c for c in value)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def render(self) -> str:
        name = self.name if _LABEL_NAME.fullmatch(self.name) else quote(self.name)
        return f"{name}{self.op}{quote(self.value)}"


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[Matcher, ...] = ()

    def label_names(self) -> set[str]:
        return {m.name for m in self.matchers}

    def render(self) -> str:
        inner = ",".join(m.render() for m in self.matchers)
        if self.metric is None:
            return "{" + inner + "}"
        return self.metric + ("{" + inner + "}" if inner else "")


@dataclass
class ParsedExpr:
    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)
    has_aggregation_without: bool = False


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z0-9]*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@:])
    """,
    re.VERBOSE,
)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"unexpected character {expr[pos]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group()))
    return tokens


def parse_selectors(expr: str) -> ParsedExpr:
    """Vector selectors of ``expr`` plus the label names of its grouping clauses.

    Raises ``ValueError`` when the expression cannot be tokenized or a selector is malformed.
    """
    toks = _tokenize(expr)
    out = ParsedExpr()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        if kind == "op" and text == "[":
            i = _skip_until(toks, i, "]")
        elif kind == "ident" and text in _GROUPING:
            labels, i = _label_list(toks, i + 1)
            out.grouping_labels.update(labels)
            out.has_aggregation_without |= text == "without"
        elif kind == "ident" and (_next_is(toks, i + 1, "(") or _next_is_grouping(toks, i + 1)):
            i += 1  # function or aggregation name
        elif kind == "ident" and text.lower() not in _KEYWORDS:
            matchers: tuple[Matcher, ...] = ()
            i += 1
            if _next_is(toks, i, "{"):
                matchers, i = _matchers(toks, i + 1)
            out.selectors.append(Selector(text, matchers))
        elif kind == "op" and text == "{":
            matchers, i = _matchers(toks, i + 1)
            names = [m.value for m in matchers if m.name == "__name__" and m.op == "="]
            rest = tuple(m for m in matchers if not (m.name == "__name__" and m.op == "="))
            if len(names) == 1 and _METRIC_NAME.fullmatch(names[0]):
                out.selectors.append(Selector(names[0], rest))
            else:
                out.selectors.append(Selector(None, matchers))
        else:
            i += 1
    return out


def _next_is(toks: list[tuple[str, str]], i: int, text: str) -> bool:
    return i < len(toks) and toks[i] == ("op", text)


def _next_is_grouping(toks: list[tuple[str, str]], i: int) -> bool:
    return i < len(toks) and toks[i][0] == "ident" and toks[i][1] in ("by", "without")


def _skip_until(toks: list[tuple[str, str]], i: int, closing: str) -> int:
    while i < len(toks) and toks[i] != ("op", closing):
        i += 1
    return i + 1


def _label_list(toks: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    if not _next_is(toks, i, "("):
        return [], i
    labels: list[str] = []
    i += 1
    while i < len(toks) and toks[i] != ("op", ")"):
        kind, text = toks[i]
        if kind == "ident":
            labels.append(text)
        elif kind == "str":
            labels.append(unquote(text))
        i += 1
    return labels, i + 1


def _matchers(toks: list[tuple[str, str]], i: int) -> tuple[tuple[Matcher, ...], int]:
    found: list[Matcher] = []
    while i < len(toks) and toks[i] != ("op", "}"):
        if toks[i] == ("op", ","):
            i += 1
            continue
        if toks[i][0] == "str" and i + 1 < len(toks) and toks[i + 1] in {("op", ","), ("op", "}")}:
            found.append(Matcher("__name__", "=", unquote(toks[i][1])))  # {"metric.name"}
            i += 1
            continue
        if i + 2 >= len(toks):
            raise ValueError("unterminated label matcher list")
        (nk, name), (ok, op), (vk, value) = toks[i], toks[i + 1], toks[i + 2]
        if nk == "str":
            name = unquote(name)  # UTF-8 quoted label names (Prometheus 3)
        if ok != "op" or op not in {"=", "!=", "=~", "!~"} or vk != "str":
            raise ValueError(f"bad label matcher near {name!r}")
        found.append(Matcher(name, op, unquote(value)))
        i += 3
    if i >= len(toks):
        raise ValueError("unterminated label matcher list")
    return tuple(found), i + 1


def series_labels(labels: Mapping[str, str], external_labels: Iterable[str]) -> dict[str, str]:
    """Alert labels minus Alertmanager/Prometheus ``external_labels`` and alert-only labels."""
    drop = set(external_labels) | _NON_SERIES_LABELS
    return {k: v for k, v in labels.items() if k not in drop and _LABEL_NAME.fullmatch(k)}


def narrowed_selectors(
    expr: str, labels: Mapping[str, str], external_labels: Iterable[str]
) -> list[Selector]:
    """Selectors of ``expr`` narrowed to this alert's series.

    Only labels the expression groups by (``by``/``on``) are added: those certainly exist on the
    underlying series, whereas other alert labels may be rule labels (``severity``) no series has.
    Raises ``ValueError`` when the expression cannot be parsed.
    """
    parsed = parse_selectors(expr)
    keep = series_labels(labels, external_labels)
    usable = parsed.grouping_labels if not parsed.has_aggregation_without else set()
    narrowed: list[Selector] = []
    for sel in parsed.selectors:
        extra = tuple(
            Matcher(k, "=", v)
            for k, v in sorted(keep.items())
            if k in usable and k not in sel.label_names()
        )
        narrowed.append(Selector(sel.metric, sel.matchers + extra))
    return narrowed


def exemplar_query(expr: str, labels: Mapping[str, str], external_labels: Iterable[str]) -> str:
    """The PromQL handed to ``query_exemplars``: narrowed selectors joined by ``or``.

    Falls back to the raw expression when it cannot be parsed (Prometheus extracts the selectors
    of any valid expression itself).
    """
    try:
        selectors = narrowed_selectors(expr, labels, external_labels)
    except ValueError:
        return expr
    rendered = list(dict.fromkeys(s.render() for s in selectors))
    return " or ".join(rendered) if rendered else expr


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill_template(template: str, **values: str | int | float) -> str:
    """Fill ``{name}`` placeholders (``{{``/``}}`` are literal braces) with escaped values.

    Values are escaped as string-literal content, so the template must put each placeholder
    inside quotes (``service="{service}"``). Unknown placeholders raise ``ConfigError``.
    """
    return substitute(template, {k: escape_string(str(v)) for k, v in values.items()})


def substitute(template: str, fragments: Mapping[str, str]) -> str:
    """Fill placeholders with already-rendered query fragments, verbatim (no escaping).

    Only for fragments this package built from validated names and quoted literals.
    """

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = m.group(1)
        if name not in fragments:
            raise ConfigError(f"query template uses unknown placeholder {{{name}}}: {template!r}")
        return fragments[name]

    return _PLACEHOLDER.sub(repl, template)


def service_query(template: str, service: str, **extra: str | int | float) -> str:
    """A per-service query from a template such as ``rate(x{{service="{service}"}}[5m])``."""
    return fill_template(template, service=service, **extra)
