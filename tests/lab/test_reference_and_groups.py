"""``eval --reference`` parsing/matching and the ``by_origin``/``by_dataset``/``by_fault_family``
breakdowns (issue #19, item 3)."""

from __future__ import annotations

import gzip

from correlator.lab.evaluate import CaseOutcome, evaluate
from correlator.lab.reference import compare, parse_reference
from correlator.lab.scenarios import RootCause, Truth
from correlator.models.analysis import FaultType
from tests.lab.conftest import NEZHA_RAW

LOG = NEZHA_RAW / "reference_results" / "OnlineBoutique_service_result.log.gz"


def _case(cid: str, ranked: list[str], truth: str, fault: FaultType, **tag: object) -> tuple:
    out = CaseOutcome.model_validate({"id": cid, "ranked": ranked, **tag})
    return Truth(root_cause=RootCause(service=truth, fault_type=fault)), out


def test_parse_reference_reads_every_score_line_of_nezha_log() -> None:
    refs = parse_reference(LOG)
    text = gzip.decompress(LOG.read_bytes()).decode()
    assert len(refs) == text.count(" score ")
    first = refs[0]
    assert (first.pod, first.fault) == ("frontend-579b9bff58-t2dbm", "cpu_contention")
    assert first.rank == 1


def test_groups_split_by_origin_dataset_and_fault_family() -> None:
    report = evaluate(
        [
            _case("a", ["x"], "x", FaultType.RESOURCE_CPU, origin="dataset", dataset="d1"),
            _case("b", ["y", "x"], "x", FaultType.CODE_ERROR, origin="dataset", dataset="d1"),
            _case("c", ["z"], "x", FaultType.RESOURCE_CPU, origin="synthetic"),
        ]
    )
    assert set(report.by_origin) == {"dataset", "synthetic"}
    assert report.by_origin["dataset"].cases == 2
    assert report.by_origin["dataset"].ac_at_1 == 0.5
    assert report.by_origin["dataset"].ac_at_3 == 1.0
    assert set(report.by_dataset) == {"d1"}
    assert report.by_fault_family["resource_cpu"].cases == 2
    assert report.by_fault_family["resource_cpu"].ac_at_1 == 0.5


def test_compare_matches_by_pod_fault_and_nearest_minute() -> None:
    near = {"inject_time": "2022-08-22 04:02:50", "pod": "frontend-579b9bff58-t2dbm"}
    report = evaluate(
        [
            _case(
                "hit",
                ["frontend"],
                "frontend",
                FaultType.CODE_ERROR,
                origin="dataset",
                dataset="n",
                dataset_case={**near, "fault": "return"},
            ),
            _case(
                "other-type",
                ["frontend"],
                "frontend",
                FaultType.CODE_ERROR,
                origin="dataset",
                dataset="n",
                dataset_case={**near, "fault": "exception"},
            ),
            _case("synthetic", ["x"], "x", FaultType.CODE_ERROR, origin="synthetic"),
        ]
    )
    c = compare(report.per_case, LOG)
    rows = {r.id: r for r in c.per_case}
    assert set(rows) == {"hit", "other-type"}
    assert rows["hit"].matched
    assert rows["hit"].reference == 2  # Nezha: "04:02:07 ... return score 2"
    assert not rows["other-type"].matched
    assert c.ours_ac_at_1 == 1.0
    assert c.reference_ac_at_1 == 0.0
