"""Redaction of what ``correlator record`` writes (``correlator.llm.redact`` on every string).

Ids and timestamps (``KEEP_KEYS``) stay verbatim so the recorded scenario still joins metrics,
traces and logs; with ``enabled=False`` everything is written as fetched.
"""

from __future__ import annotations

from typing import Any

from correlator.llm.redact import Redactor

KEEP_KEYS = frozenset(
    {
        "traceId",
        "spanId",
        "parentSpanId",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "timeUnixNano",
        "fingerprint",
        "startsAt",
        "endsAt",
        "trace_id",
        "span_id",
        "traceID",
        "time",
        "timeEnd",
        "created",
        "updated",
        "id",
        "alertId",
        "dashboardUID",
        "panelId",
    }
)


class Scrub:
    """Redaction of recorded payloads: every string except ids and timestamps (``KEEP_KEYS``)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.redactor = enabled, Redactor()

    def text(self, s: str) -> str:
        return self.redactor.text(s) if self.enabled else s

    def tree(self, node: Any, key: str = "") -> Any:
        if not self.enabled or key in KEEP_KEYS:
            return node
        if isinstance(node, str):
            return self.redactor.text(node)
        if isinstance(node, dict):
            return {k: self.tree(v, str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.tree(v) for v in node]
        return node

    def logs(self, body: dict[str, Any]) -> dict[str, Any]:
        """Stream label values (ids kept) and lines; nanosecond timestamps untouched."""
        if not self.enabled:
            return body
        result = [
            {
                "stream": {k: self.tree(v, k) for k, v in s["stream"].items()},
                "values": [[ts, self.text(line)] for ts, line in s["values"]],
            }
            for s in body["data"]["result"]
        ]
        return {**body, "data": {**body["data"], "result": result}}
