"""Dataset span rows -> Tempo ``/api/traces/<id>`` bodies (v1 ``batches``), as Tempo sends them.

Datasets store flat span tables (trace id, span id, parent id, pod, operation, times) without
kind or status. Tempo returns spans grouped by resource (one batch per pod), ids base64,
64-bit integers as strings, enum names, zero values omitted. Kind comes from the call graph,
as the recording agents set it (docs/datasets.md):

* a root span, or a span whose parent is in another pod or missing: ``SPAN_KIND_SERVER``
  (the callee's side of an RPC);
* else a span with a child in another pod is the caller's side of an RPC: ``SPAN_KIND_CLIENT``;
* else a span whose RPC service is another workload's (``hipstershop.CartService/GetCart``
  recorded in the frontend pod) is a client call even when the callee recorded nothing;
* anything else: ``SPAN_KIND_INTERNAL``.

Parent links are kept verbatim (a parent that was not recorded stays a dangling link, as in
Tempo). Status is left unset: the dataset does not record it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ROOT_PARENTS = frozenset({"", "root", "0", "0000000000000000"})


@dataclass(frozen=True)
class SpanRow:
    trace_id: str
    span_id: str
    parent_id: str
    pod: str
    name: str
    start_ns: int
    end_ns: int

    @property
    def is_root(self) -> bool:
        return self.parent_id in ROOT_PARENTS


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def span_kind(
    row: SpanRow,
    by_id: dict[str, SpanRow],
    child_pods: dict[str, set[str]],
    rpc_owner: Callable[[str], str | None],
    workload: Callable[[str], str],
) -> str:
    """The kind a gRPC/HTTP instrumentation would have recorded for this span (module doc)."""
    parent = by_id.get(row.parent_id)
    if row.is_root or parent is None or parent.pod != row.pod:
        return "SPAN_KIND_SERVER"
    if any(p != row.pod for p in child_pods.get(row.span_id, ())):
        return "SPAN_KIND_CLIENT"
    owner = rpc_owner(row.name)
    if owner is not None and owner != workload(row.pod):
        return "SPAN_KIND_CLIENT"
    return "SPAN_KIND_INTERNAL"


def tempo_body(
    rows: Sequence[SpanRow],
    *,
    resource: Callable[[str], list[dict[str, Any]]],
    rpc_owner: Callable[[str], str | None],
    workload: Callable[[str], str],
    scope: str,
) -> dict[str, Any]:
    """One trace as Tempo v1 JSON: a batch per pod (first-seen order), spans by start time."""
    by_id = {r.span_id: r for r in rows}
    child_pods: dict[str, set[str]] = {}
    for r in rows:
        child_pods.setdefault(r.parent_id, set()).add(r.pod)
    pods: list[str] = []
    for r in sorted(rows, key=lambda r: (r.start_ns, r.span_id)):
        if r.pod not in pods:
            pods.append(r.pod)
    batches = []
    for pod in pods:
        spans = []
        for r in sorted((r for r in rows if r.pod == pod), key=lambda r: (r.start_ns, r.span_id)):
            span: dict[str, Any] = {"traceId": _b64(r.trace_id), "spanId": _b64(r.span_id)}
            if not r.is_root:
                span["parentSpanId"] = _b64(r.parent_id)
            span["name"] = r.name
            span["kind"] = span_kind(r, by_id, child_pods, rpc_owner, workload)
            span["startTimeUnixNano"] = str(r.start_ns)
            span["endTimeUnixNano"] = str(r.end_ns)
            span["status"] = {}
            spans.append(span)
        batches.append(
            {
                "resource": {"attributes": resource(pod)},
                "scopeSpans": [{"scope": {"name": scope}, "spans": spans}],
            }
        )
    return {"batches": batches}


def resource_attributes(service: str, namespace: str, pod: str) -> list[dict[str, Any]]:
    """Resource attributes an OTel SDK with the k8s resource detector sets."""
    return [
        _attr("service.name", service),
        _attr("k8s.namespace.name", namespace),
        _attr("k8s.pod.name", pod),
        _attr("k8s.deployment.name", service),
    ]
