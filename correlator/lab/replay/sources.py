"""Work items for a replay: one Alertmanager webhook v4 body with exactly one alert, or a scenario.

Three sources:

* ``jsonl_items(path)``: a file of saved webhook bodies, one JSON object per line (as a logging
  receiver writes them). Every alert of every body becomes an item; the same alert seen again
  (same fingerprint and ``startsAt``, e.g. its ``resolved`` notification) is kept once, the
  ``firing`` copy preferred.
* ``scenario_items(root)``: scenario directories (``correlator.lab.scenarios.discover``), run like
  ``correlator eval`` does (a simulator per scenario) but without truth.
* ``correlator.lab.replay.alerts``: historical ``ALERTS{alertstate="firing"}`` from Prometheus.

An item's ``key`` (``<fingerprint>@<startsAt>``, or ``scenario:<id>``) is what resume compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from correlator.lab.scenarios import discover
from correlator.models import AlertmanagerWebhook

SourceKind = Literal["prometheus", "jsonl", "scenario"]
GO_ZERO = "0001-01-01T00:00:00Z"
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF
_MASK = (1 << 64) - 1


class SourceError(ValueError):
    """A replay source that cannot be read (bad line, bad body)."""


@dataclass(frozen=True)
class WorkItem:
    key: str
    source: SourceKind
    webhook: dict[str, Any] | None = None  # Alertmanager v4 body with exactly one alert
    scenario: Path | None = None

    @property
    def alert(self) -> dict[str, Any]:
        if self.webhook is None:
            return {}
        first: dict[str, Any] = self.webhook["alerts"][0]
        return first


def am_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's alert fingerprint (prometheus/common ``LabelSet.Fingerprint``).

    FNV-1a 64 over the label names in sorted order, each name and value followed by the byte
    0xff, printed as 16 lowercase hex digits. Checked against real webhook captures.
    """
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def _iso(value: Any) -> str:
    """``startsAt`` normalised to UTC, millisecond ISO (so keys compare across sources)."""
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_key(alert: dict[str, Any]) -> str:
    fp = alert.get("fingerprint") or am_fingerprint(dict(alert.get("labels", {})))
    return f"{fp}@{_iso(alert['startsAt'])}"


def split_webhook(body: dict[str, Any], source: SourceKind) -> list[WorkItem]:
    """One item per alert of a (validated) webhook body; fingerprints filled in when absent."""
    try:
        AlertmanagerWebhook.model_validate(body)
    except ValidationError as exc:
        raise SourceError(f"not an Alertmanager webhook body: {exc}") from exc
    items: list[WorkItem] = []
    for alert in body["alerts"]:
        one = dict(alert)
        one.setdefault("fingerprint", "")
        if not one["fingerprint"]:
            one["fingerprint"] = am_fingerprint(dict(one.get("labels", {})))
        hook = {**body, "alerts": [one], "truncatedAlerts": 0}
        items.append(WorkItem(alert_key(one), source, webhook=hook))
    return items


def jsonl_items(path: Path | str) -> list[WorkItem]:
    """Items of a JSONL file of webhook bodies (blank lines skipped; a bad line is an error)."""
    chosen: dict[str, WorkItem] = {}
    text = Path(path).read_text(encoding="utf-8")
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{n}: {exc}") from exc
        if not isinstance(body, dict):
            raise SourceError(f"{path}:{n}: not a JSON object")
        try:
            items = split_webhook(body, "jsonl")
        except SourceError as exc:
            raise SourceError(f"{path}:{n}: {exc}") from exc
        for item in items:
            held = chosen.get(item.key)
            if held is None or (
                held.alert.get("status") != "firing" and item.alert.get("status") == "firing"
            ):
                chosen[item.key] = item
    return list(chosen.values())


def scenario_items(root: Path | str) -> list[WorkItem]:
    """One item per scenario directory under ``root`` (truth, if present, is not read)."""
    return [WorkItem(f"scenario:{p.name}", "scenario", scenario=p) for p in discover(root)]
