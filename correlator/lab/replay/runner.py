"""``run_replay``: investigate work items with bounded concurrency, resumably.

Each finished item appends one ``ReplayRow`` (JSON line) to ``<out>/replay.jsonl`` at once, so an
interrupted replay loses at most the items in flight. On the next run, keys already present
without an error are skipped (a row with an error is retried; the last row per key wins).

Investigations run in-process through ``correlator.wiring.investigate_once`` against the
configured backends; the alert's own ``startsAt`` places every query window at the historical
time. Scenario items start a simulator each (``correlator.lab.simulator``), as ``correlator eval``.
Notifiers are cleared (``quiet_settings``) unless ``notify=True``; then each investigation
posts its notes to the configured channels (delivered before its row is written).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from correlator.lab.evaluate import CaseOutcome, outcome_from
from correlator.lab.replay.sources import WorkItem
from correlator.lab.simulator.harness import simulator_settings
from correlator.lab.simulator.server import running_simulator
from correlator.models import AlertmanagerWebhook, Investigation
from correlator.models.alert import alert_service
from correlator.settings import PagerDutySettings, Settings, SlackSettings, WebhookNotifierSettings
from correlator.wiring import investigate_once

ROWS_FILE = "replay.jsonl"


class ReplayRow(BaseModel):
    """One replayed alert (a line of ``replay.jsonl`` and a row of the report)."""

    key: str
    source: str
    alertname: str = ""
    service: str | None = None
    fingerprint: str = ""
    starts_at: datetime | None = None
    expr: str | None = Field(default=None, description="the alert's PromQL, as investigated")
    status: str = "error"
    top_service: str | None = None
    top_statement: str = ""
    fault_type: str | None = None
    confidence: float | None = None
    proposed_action: str = ""
    hypotheses: list[str] = Field(default_factory=list, description="service:fault_type, ranked")
    evidence: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="evidence kind -> status -> count"
    )
    counts: dict[str, int] = Field(
        default_factory=dict, description="exemplars, traces, log_lines, changes"
    )
    stages_ms: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    outcome: CaseOutcome
    error: str | None = None
    finished_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    skipped: int
    elapsed: float
    row: ReplayRow | None = None


ProgressFn = Callable[[Progress], None]


def quiet_settings(settings: Settings, *, notify: bool = False) -> Settings:
    """``settings`` with Slack, PagerDuty and the generic webhook unset (unless ``notify``)."""
    if notify:
        return settings
    return settings.model_copy(
        update={
            "slack": SlackSettings(),
            "pagerduty": PagerDutySettings(),
            "webhook": WebhookNotifierSettings(),
        }
    )


def load_rows(out_dir: Path) -> dict[str, ReplayRow]:
    """Rows already in ``<out>/replay.jsonl`` by key (last wins; unreadable lines ignored)."""
    path = out_dir / ROWS_FILE
    rows: dict[str, ReplayRow] = {}
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = ReplayRow.model_validate_json(line)
        except ValidationError:
            continue  # a line cut by a crash mid-write: that item simply runs again
        rows[row.key] = row
    return rows


def row_from(
    item: WorkItem,
    inv: Investigation | None,
    seconds: float,
    settings: Settings,
    error: str | None = None,
) -> ReplayRow:
    """The report row of one investigated item."""
    outcome = outcome_from(item.key, [inv] if inv is not None else [], seconds, error)
    row = ReplayRow(
        key=item.key,
        source=item.source,
        outcome=outcome,
        seconds=round(seconds, 3),
        error=outcome.error,
    )
    if inv is None:
        if item.webhook is not None:
            labels = item.alert.get("labels", {})
            row.alertname = labels.get("alertname", "")
            row.service = alert_service(labels, settings.prometheus.service_labels)
            row.fingerprint = item.alert.get("fingerprint", "")
        return row
    row.alertname, row.fingerprint = inv.alert.alertname, inv.fingerprint
    row.starts_at, row.status = inv.alert.starts_at, str(inv.status)
    row.service = alert_service(inv.alert.labels, settings.prometheus.service_labels)
    row.expr = inv.expr
    row.stages_ms = {s.name: round(s.elapsed_ms, 1) for s in inv.stages}
    analysis = inv.analysis
    if analysis is not None and analysis.hypotheses:
        top = analysis.hypotheses[0]
        row.top_service, row.top_statement = top.service, top.statement
        row.fault_type, row.confidence = str(top.fault_type), round(top.confidence, 3)
        row.hypotheses = [f"{h.service}:{h.fault_type}" for h in analysis.hypotheses]
        remediation = inv.remediation or top.remediation
        row.proposed_action = remediation.summary if remediation is not None else ""
    bundle = inv.evidence
    if bundle is not None:
        by_kind: dict[str, Counter[str]] = {}
        for e in bundle.items:
            by_kind.setdefault(str(e.kind), Counter())[str(e.status)] += 1
        row.evidence = {k: dict(sorted(c.items())) for k, c in sorted(by_kind.items())}
        row.service = row.service or bundle.alert_service
        row.counts = {
            "exemplars": len(bundle.exemplars),
            "traces": len(bundle.traces),
            "log_lines": sum(len(t.lines) for t in bundle.trace_logs)
            + sum(p.count for s in bundle.log_patterns for p in s.patterns),
            "changes": len(bundle.changes),
        }
    return row


async def _investigate_webhook(
    item: WorkItem, settings: Settings, *, notify: bool
) -> Investigation | None:
    hook = AlertmanagerWebhook.model_validate(item.webhook)
    results = await investigate_once(hook, settings, notify=notify)
    return results[0] if results else None


async def _investigate_scenario(
    item: WorkItem, settings: Settings, *, notify: bool
) -> Investigation | None:
    assert item.scenario is not None
    cm = running_simulator(item.scenario)
    sim = await asyncio.to_thread(cm.__enter__)
    try:
        sim_settings = simulator_settings(sim.url, sim.scenario).model_copy(
            update={
                "llm": settings.llm,
                "slack": settings.slack,
                "pagerduty": settings.pagerduty,
                "webhook": settings.webhook,
            }
        )
        results = await investigate_once(sim.scenario.webhook, sim_settings, notify=notify)
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)
    return results[0] if results else None


async def run_item(item: WorkItem, settings: Settings, *, notify: bool = False) -> ReplayRow:
    """Investigate one item; never raises (a failure is a row with ``error``).

    ``notify``: the configured channels of ``settings`` get the notes, delivered before the
    row is written (``replay --notify``).
    """
    started = time.perf_counter()
    try:
        if item.source == "scenario":
            inv = await _investigate_scenario(item, settings, notify=notify)
        else:
            inv = await _investigate_webhook(item, settings, notify=notify)
    except Exception as exc:  # noqa: BLE001 - documented boundary: one failing alert must not stop the replay
        return row_from(
            item,
            None,
            time.perf_counter() - started,
            settings,
            error=f"{type(exc).__name__}: {exc}",
        )
    return row_from(item, inv, time.perf_counter() - started, settings)


def _append(path: Path, row: ReplayRow) -> None:
    """Append one line; a line cut by an earlier crash is terminated first."""
    with path.open("a+b") as fh:
        fh.seek(0, 2)
        if fh.tell() > 0:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write(row.model_dump_json().encode() + b"\n")


async def run_replay(
    items: Sequence[WorkItem],
    settings: Settings,
    out_dir: Path,
    *,
    concurrency: int = 2,
    notify: bool = False,
    on_progress: ProgressFn | None = None,
) -> list[ReplayRow]:
    """Investigate the items not already done in ``out_dir``; returns every row (old and new)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    loaded = await asyncio.to_thread(load_rows, out_dir)
    done = {k: r for k, r in loaded.items() if r.error is None}
    todo = [i for i in items if i.key not in done]
    run_settings = quiet_settings(settings, notify=notify)
    gate, lock = asyncio.Semaphore(max(1, concurrency)), asyncio.Lock()
    started, finished = time.perf_counter(), 0
    skipped = len(items) - len(todo)
    rows = dict(done)
    if on_progress is not None:
        on_progress(Progress(0, len(todo), skipped, 0.0))

    async def one(item: WorkItem) -> None:
        nonlocal finished
        async with gate:
            row = await run_item(item, run_settings, notify=notify)
        async with lock:
            await asyncio.to_thread(_append, out_dir / ROWS_FILE, row)
            rows[row.key] = row
            finished += 1
            if on_progress is not None:
                elapsed = time.perf_counter() - started
                on_progress(Progress(finished, len(todo), skipped, elapsed, row))

    await asyncio.gather(*(one(i) for i in todo))
    order = {i.key: n for n, i in enumerate(items)}
    return sorted(rows.values(), key=lambda r: (order.get(r.key, len(order)), r.key))
