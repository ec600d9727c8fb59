"""The report writer keeps hand-written text and replaces only the generated block; the
simulator's request counter tells repeats from distinct requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from correlator.lab.bench.report import BEGIN, END, write_outputs
from correlator.lab.simulator.app import RequestCounter


def _doc(ready: float) -> dict[str, Any]:
    return {
        "started_at": "2026-11-23T11:00:00+00:00",
        "command": "correlator bench --only startup",
        "duration_s": 3.0,
        "machine": {
            "nproc": 2,
            "cpu": "test cpu",
            "memory_gib": 4.0,
            "python": "3.11",
            "platform": "linux",
            "loadavg_at_start": [0.1, 0.2, 0.3],
            "commit": "abc1234",
        },
        "figures": {
            "startup": {
                "goal": "fast",
                "elapsed_s": 3.0,
                "runs": [{"serve_to_ready_s": ready, "help_s": 0.07}],
                "median": {"serve_to_ready_s": ready, "help_s": 0.07},
            }
        },
    }


def test_rerun_replaces_only_the_generated_block(tmp_path: Path) -> None:
    md, js = tmp_path / "b.md", tmp_path / "b.json"
    md.write_text(f"# B\n\nintro\n\n{BEGIN}\nold numbers\n{END}\n\n## Findings\n\nkept\n", "utf-8")
    write_outputs(_doc(0.851), md, js)
    first = md.read_text("utf-8")
    assert "old numbers" not in first
    assert "| 1 | 0.851 | 0.07 |" in first
    assert first.startswith("# B\n\nintro\n\n")
    assert first.rstrip().endswith("## Findings\n\nkept")
    write_outputs(_doc(0.912), md, js)
    second = md.read_text("utf-8")
    assert "0.851" not in second
    assert "| 1 | 0.912 | 0.07 |" in second
    assert second.count(BEGIN) == 1
    assert second.count(END) == 1
    assert json.loads(js.read_text("utf-8"))["figures"]["startup"]["runs"][0]["help_s"] == 0.07


def test_error_figure_is_reported_not_dropped(tmp_path: Path) -> None:
    doc = _doc(1.0)
    doc["figures"]["startup"] = {"goal": "fast", "elapsed_s": 0.1, "error": "ServiceError: boom"}
    write_outputs(doc, tmp_path / "b.md", tmp_path / "b.json")
    assert "**Error:** `ServiceError: boom`" in (tmp_path / "b.md").read_text("utf-8")


def test_request_counter_counts_repeats_and_distinct_queries() -> None:
    c = RequestCounter()
    c.add("prometheus", "GET", "/api/v1/query_range", "query=up&start=1&end=2")
    c.add("prometheus", "GET", "/api/v1/query_range", "end=2&query=up&start=1")  # same, reordered
    c.add("prometheus", "GET", "/api/v1/query_range", "query=up&start=1&end=3")
    c.add("tempo", "GET", "/api/v2/traces/abc", "")
    snap = c.snapshot()
    assert snap["total"] == 4
    assert snap["distinct"] == 3
    assert snap["by_backend"] == {"prometheus": 3, "tempo": 1}


def _ingest_run(**extra: Any) -> dict[str, Any]:
    run = {
        "senders": 50,
        "seconds": 20.0,
        "accepted": 1000,
        "webhooks_per_s": 50.0,
        "p50_ms": 12.5,
        "p99_ms": 80.25,
        "errors": 0,
        "missing": 0,
        "no_loss": True,
        "running_median": 4,
        "worker_processes": 1,
    }
    return {**run, **extra}


def test_ingest_reports_closed_and_open_loop_separately(tmp_path: Path) -> None:
    doc = _doc(1.0)
    closed = _ingest_run()
    opened = _ingest_run(
        offered_per_s=100.0, sent=2000, max_ms=300.5, service_p50_ms=9.5, late_p99_ms=4.0
    )
    doc["figures"] = {
        "ingest": {
            "goal": "fast",
            "elapsed_s": 50.0,
            "runs": [closed],
            "median": closed,
            "no_loss": True,
            "open_loop": {
                "runs": [opened],
                "median": opened,
                "offered_per_s": 100.0,
                "no_loss": True,
            },
        }
    }
    md = tmp_path / "b.md"
    write_outputs(doc, md, tmp_path / "b.json")
    text = md.read_text("utf-8")
    assert "Closed loop" in text
    assert "| 1 | 50 | 20 | 1000 | 50 | 12.5 | 80.25 | 0 | 0 | yes | 4 | 1 |" in text
    assert "100 webhooks/s offered" in text
    assert "| 1 | 2000 | 1000 | 50 | 12.5 | 80.25 | 300.5 | 9.5 | - | 4 | 0 | 0 | yes |" in text
