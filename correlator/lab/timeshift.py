"""Time shifts of scenario files (``Scenario.shifted``): every timestamp moved by ``ms``.

The formats themselves (OpenMetrics, OTLP trace bodies) are read in ``correlator.wire``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

TIME_KEYS_NS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano")


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
