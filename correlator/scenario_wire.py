"""Wire-level helpers for scenario files: OpenMetrics samples/exemplars, trace bodies, time shifts.

Used by ``correlator.scenario`` (loading, validation, ``Scenario.shifted``) and by the simulator.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TIME_KEYS_NS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano")


class OpenMetricsError(ValueError):
    """A line of metrics.om that is not an OpenMetrics sample."""


def resource_spans(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The resourceSpans list of a v1 (``batches``) or v2 (``trace``) trace-by-id body."""
    if "batches" in body:
        return list(body["batches"])
    inner = body.get("trace", body)
    return list(inner.get("resourceSpans", []))


def b64_to_hex(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def trace_ids_in(body: dict[str, Any]) -> set[str]:
    ids: set[str] = set()
    for rs in resource_spans(body):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                ids.add(b64_to_hex(span.get("traceId", "")))
    return ids


# ---- OpenMetrics parsing (samples + exemplars), shared with the simulator ------------------

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class OMExemplar:
    series: dict[str, str]
    labels: dict[str, str]
    value: str
    timestamp: float


def _unescape(v: str) -> str:
    return v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def _labels(text: str, pos: int) -> tuple[dict[str, str], int]:
    """Parse ``{a="b",...}`` starting at ``text[pos] == '{'``; returns labels and end index."""
    labels: dict[str, str] = {}
    pos += 1
    while pos < len(text) and text[pos] != "}":
        m = _LABEL.match(text, pos)
        if not m:
            raise OpenMetricsError(f"bad label set in: {text[:120]}")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels, pos + 1


@dataclass(frozen=True)
class OMLine:
    name: str
    labels: dict[str, str]
    value: str
    timestamp: str | None
    exemplar: tuple[dict[str, str], str, str | None] | None


def parse_sample_line(line: str) -> OMLine:
    m = _NAME.match(line)
    if not m:
        raise OpenMetricsError(f"bad sample line: {line[:120]}")
    name, pos = m.group(0), m.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _labels(line, pos)
    rest = line[pos:]
    exemplar = None
    if " # " in rest:
        head, ex = rest.split(" # ", 1)
        ex_labels, epos = _labels(ex, ex.index("{"))
        parts = ex[epos:].split()
        exemplar = (ex_labels, parts[0], parts[1] if len(parts) > 1 else None)
        rest = head
    parts = rest.split()
    return OMLine(name, labels, parts[0], parts[1] if len(parts) > 1 else None, exemplar)


def parse_exemplars(text: str) -> list[OMExemplar]:
    out: list[OMExemplar] = []
    for line in text.splitlines():
        if not line or line.startswith("#") or " # " not in line:
            continue
        s = parse_sample_line(line)
        if s.exemplar is None:
            continue
        labels, value, ts = s.exemplar
        when = float(ts) if ts is not None else float(s.timestamp or 0)
        out.append(OMExemplar({"__name__": s.name, **s.labels}, labels, value, when))
    return out


def _shift_ts(ts: str, ms: int) -> str:
    whole, _, frac = ts.partition(".")
    total = int(whole) * 1000 + (int((frac + "000")[:3]) if frac else 0) + ms
    sec, rem = divmod(total, 1000)
    return f"{sec}.{rem:03d}" if (frac or rem) else str(sec)


_TS_TAIL = re.compile(r"(\s)(\d+(?:\.\d+)?)$")


def shift_openmetrics(text: str, ms: int) -> str:
    """Shift sample and exemplar timestamps (text otherwise unchanged)."""
    out: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            out.append(line)
            continue
        head, sep, ex = line.partition(" # ")
        head = _TS_TAIL.sub(lambda m: m.group(1) + _shift_ts(m.group(2), ms), head)
        if sep:
            close = ex.rindex("}")
            tail = _TS_TAIL.sub(lambda m: m.group(1) + _shift_ts(m.group(2), ms), ex[close + 1 :])
            # exemplar tail is " value [ts]": only shift when a timestamp is present
            if len(ex[close + 1 :].split()) < 2:
                tail = ex[close + 1 :]
            ex = ex[: close + 1] + tail
        out.append(head + sep + ex)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _shift_ns_tree(node: Any, ns: int) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                str(int(v) + ns)
                if k in TIME_KEYS_NS and v not in (None, "")
                else _shift_ns_tree(v, ns)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_shift_ns_tree(v, ns) for v in node]
    return node


def shift_trace(body: dict[str, Any], ms: int) -> dict[str, Any]:
    shifted: dict[str, Any] = _shift_ns_tree(body, ms * 1_000_000)
    return shifted


def shift_logs(body: dict[str, Any], ms: int) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for stream in out.get("data", {}).get("result", []):
        for value in stream.get("values", []):
            value[0] = str(int(value[0]) + ms * 1_000_000)
    return out


def shift_annotation(a: dict[str, Any], ms: int) -> dict[str, Any]:
    out = dict(a)
    for k in ("time", "timeEnd", "created", "updated"):
        if isinstance(out.get(k), int) and out[k]:
            out[k] = out[k] + ms
    return out


def _shift_iso(value: str, ms: int) -> str:
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = (t + timedelta(milliseconds=ms)).astimezone(UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shift_deploy(d: dict[str, Any], ms: int) -> dict[str, Any]:
    out = dict(d)
    if out.get("time"):
        out["time"] = _shift_iso(out["time"], ms)
    return out


def shift_alert(body: dict[str, Any], ms: int) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for a in out.get("alerts", []):
        for k in ("startsAt", "endsAt"):
            if a.get(k) and not str(a[k]).startswith("0001-"):
                a[k] = _shift_iso(a[k], ms)
    return out
