"""Pieces of ``correlator record`` and the replay CLI that need no backend."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from correlator.cli.replay import ProgressBar, parse_when
from correlator.lab.replay.fetch import metric_names
from correlator.lab.replay.runner import Progress
from correlator.wire.openmetrics import build_openmetrics, parse_exemplars, parse_sample_line

TID = "76b0328f50655736e86d6de088979e91"
MATRIX = [
    {
        "metric": {"__name__": "req_bucket", "service": 'a"b\\c', "le": "+Inf"},
        "values": [[100.0, "1"], [130.0, "2"], [160.0, "NaN"]],
    },
    {"metric": {"__name__": "up", "job": "x"}, "values": [[100.5, "1"]]},
]
EXEMPLARS = [
    {
        "seriesLabels": {"__name__": "req_bucket", "service": 'a"b\\c', "le": "+Inf"},
        "exemplars": [
            {"labels": {"trace_id": TID}, "value": "0.5", "timestamp": 121.25},
            {"labels": {"trace_id": "f" * 32}, "value": "0.7", "timestamp": 122.0},
            {"labels": {"trace_id": "0" * 31 + "1"}, "value": "0.9", "timestamp": 125.0},
        ],
    }
]


def test_openmetrics_samples_and_exemplars_round_trip() -> None:
    om = build_openmetrics(MATRIX, EXEMPLARS, keep_trace=lambda lab: lab["trace_id"] != "f" * 32)
    assert om.text.endswith("# EOF\n")
    assert (om.series, om.samples, om.exemplars, om.dropped_exemplars) == (2, 4, 2, 1)
    lines = [parse_sample_line(x) for x in om.text.splitlines() if not x.startswith("#")]
    assert [x.timestamp for x in lines] == ["100.000", "100.500", "130.000", "160.000"]
    assert lines[0].labels == {"service": 'a"b\\c', "le": "+Inf"}  # escaping survives
    assert lines[3].value == "NaN"
    ex = parse_exemplars(om.text)
    # each exemplar rides the first free scrape at/after it: 121.25 -> 130, 125 -> 160
    assert [(e.labels["trace_id"], e.timestamp) for e in ex] == [
        (TID, 121.25),
        ("0" * 31 + "1", 125.0),
    ]
    assert lines[0].exemplar is None  # 100 s is before every exemplar


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
def test_promtool_backfills_what_we_write(tmp_path: Path) -> None:
    om = build_openmetrics(MATRIX, EXEMPLARS, keep_trace=lambda _: True)
    (tmp_path / "m.om").write_text(om.text)
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "m.om", "data"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "4 " in done.stdout  # NUM SAMPLES column


def test_openmetrics_redacts_label_values_only() -> None:
    matrix = [{"metric": {"__name__": "x", "dsn": "postgres://u:pw@db/x"}, "values": [[1, "1"]]}]
    om = build_openmetrics(matrix, [], keep_trace=lambda _: True, redact=lambda s: s.upper())
    assert 'x{dsn="POSTGRES://U:PW@DB/X"} 1 1.000' in om.text


def test_metric_names_are_known_identifiers_in_queries() -> None:
    queries = ['sum(rate(http_requests_total{code=~"5.."}[5m])) by (job)', "up == 0"]
    known = {"http_requests_total", "up", "node_cpu"}
    assert metric_names(queries, known) == {"http_requests_total", "up"}


def test_parse_when() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert parse_when("now", now=now) == now
    assert parse_when("90m", now=now) == now - timedelta(minutes=90)
    assert parse_when("7d", now=now) == now - timedelta(days=7)
    assert parse_when("2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_when("2026-11-01T00:00:00") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_when("yesterday")


def test_progress_bar_eta_and_resume_line() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    bar(Progress(0, 4, 3, 0.0))
    bar(Progress(1, 4, 3, 2.0))
    bar(Progress(4, 4, 3, 8.0))
    assert out.getvalue().splitlines() == [
        "resume: 3 already done, 4 to go",
        "[##--------] 1/4  skipped 3  2s elapsed  ETA 6s",
        "[##########] 4/4  skipped 3  8s elapsed  ETA 0s",
    ]
