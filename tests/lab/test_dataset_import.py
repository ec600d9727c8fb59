"""``correlator dataset import nezha``: what the imported scenarios hold (issue #19, item 1-2).

Everything is checked against the vendored raw data (tests/datasets/nezha-onlineboutique),
never against figures copied into the test: the fault lists give the truth, the trace CSVs the
span graph, the exporters' documented label sets the metric labels.
"""

from __future__ import annotations

import base64
import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest

from correlator.lab.datasets.nezha import FAULT_TYPES, MIN_TRACE_MINUTES
from correlator.lab.datasets.nezha_metrics import workload
from correlator.lab.datasets.nezha_raw import faults, parse_time
from correlator.lab.scenarios import discover, load_scenario, load_truth
from correlator.wire.openmetrics import parse_sample_line
from correlator.wire.otlp import resource_spans
from tests.lab.conftest import NEZHA_RAW, Imported

CADVISOR = {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"}


def test_every_listed_fault_is_a_case_or_skipped_with_a_reason(nezha: Imported) -> None:
    listed = [f for day in ("2022-08-22", "2022-08-23") for f in faults(NEZHA_RAW, day)]
    ids = {c.id for c in nezha.result.cases}
    skipped = {s.case: s.reason for s in nezha.result.skipped}
    assert len(ids) + len(skipped) == len(listed)
    assert not ids & set(skipped)
    assert ids, "no paging case at all"
    assert any(r.startswith("never pages") for r in skipped.values())
    report = json.loads((nezha.out / "import-report.json").read_text())
    assert sorted(report["cases"]) == sorted(ids)
    assert {r["alert"] for r in report["rules"]} == {r.name for r in nezha.result.rules}


def test_scenarios_load_with_dataset_origin_and_truth_from_the_fault_list(
    nezha: Imported,
) -> None:
    paths = discover(nezha.out)
    assert len(paths) == len(nezha.result.cases)
    for path in paths:
        s = load_scenario(path)
        truth = load_truth(path)
        assert s.meta.origin == "dataset"
        assert s.meta.dataset is not None
        assert s.meta.dataset.name == "nezha-onlineboutique"
        case = s.meta.dataset.case
        assert truth.root_cause.services == [workload(case["pod"])]
        assert truth.root_cause.fault_type == FAULT_TYPES[case["fault"]]
        assert s.alert_time.timestamp() * 1000 >= parse_time(case["inject_time"])
        assert len(s.traces) > 0


def test_metrics_carry_only_their_exporters_labels(nezha: Imported) -> None:
    path = discover(nezha.out)[0]
    names: set[str] = set()
    for line in (path / "metrics.om").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        s = parse_sample_line(line)
        names.add(s.name)
        if s.name in CADVISOR:
            assert set(s.labels) == {"container", "job", "metrics_path", "namespace", "pod"}
            assert "service" not in s.labels
        if s.name.startswith("rpc_") or s.name.startswith("http_"):
            assert s.labels["service"] == workload(s.labels["pod"])
    assert names >= CADVISOR
    assert "http_requests_total" in names


def test_traces_keep_parent_links_and_mark_cross_pod_calls_client(nezha: Imported) -> None:
    clients = 0
    for path in discover(nezha.out)[:3]:
        for body in load_scenario(path).traces.values():
            spans = []
            for rs in resource_spans(body):
                attrs = {a["key"]: a["value"]["stringValue"] for a in rs["resource"]["attributes"]}
                for ss in rs["scopeSpans"]:
                    spans.extend((attrs["k8s.pod.name"], sp) for sp in ss["spans"])
            pod_of = {sp["spanId"]: pod for pod, sp in spans}
            for pod, sp in spans:
                parent = sp.get("parentSpanId")
                if parent in pod_of and pod_of[parent] != pod:
                    assert sp["kind"] == "SPAN_KIND_SERVER"
                children = [p for p, c in spans if c.get("parentSpanId") == sp["spanId"]]
                if parent in pod_of and pod_of[parent] == pod and any(p != pod for p in children):
                    assert sp["kind"] == "SPAN_KIND_CLIENT"
                    clients += 1
                assert len(base64.b64decode(sp["spanId"])) == 8
    assert clients > 0


def test_faults_with_too_few_trace_minutes_are_skipped(nezha: Imported) -> None:
    for s in nezha.result.skipped:
        if "trace files" in s.reason:
            present = int(s.reason.split()[1])
            assert present < MIN_TRACE_MINUTES


@pytest.mark.slow
def test_regeneration_is_byte_identical(nezha: Imported, tmp_path: Path) -> None:
    """The CLI, in a fresh process, writes the same bytes as the session's import."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from correlator.cli import main; sys.exit(main())",
            "dataset",
            "import",
            "nezha",
            str(NEZHA_RAW),
            "--out",
            str(tmp_path),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "paging cases written" in done.stdout
    _same_tree(nezha.out, tmp_path)


def _same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only, cmp.left_only
    assert not cmp.right_only, cmp.right_only
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    assert not mismatch, mismatch
    assert not errors, errors
    for sub in cmp.common_dirs:
        _same_tree(a / sub, b / sub)
