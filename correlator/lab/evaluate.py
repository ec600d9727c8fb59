"""Accuracy of ranked hypotheses against scenario ground truth (definitions: docs/accuracy.md).

* ``hit_rank``: 1-based rank of the first hypothesis (services de-duplicated, in ranking order)
  naming a truth service; with several truth services any of them counts. ``None`` = miss.
* AC@k: share of fault cases with ``hit_rank <= k``; Avg@5: mean of AC@1..AC@5.
* fault-type accuracy: share of fault cases whose top hypothesis has the truth ``fault_type``.
* culprit-change top-1: share of cases whose truth names a change where the top hypothesis'
  ``suspect_change`` matches it (commit prefix either way, or version, or id).
* false-accusation rate: over cases whose truth names no change, the share where the top
  hypothesis blames a change, or (no-fault controls) any hypothesis blames a service while the
  analysis does not declare ``no_fault``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from correlator.lab.scenarios import ChangeRef, Truth
from correlator.models import Investigation
from correlator.models.analysis import Analysis, FaultType, SuspectChange
from correlator.models.evidence import EvidenceStatus


class CaseOutcome(BaseModel):
    """What the pipeline concluded for one scenario (extracted from its Investigation)."""

    id: str
    ranked: list[str] = Field(default_factory=list)
    fault_types: list[FaultType] = Field(default_factory=list, description="per ranked service")
    top_change: SuspectChange | None = None
    no_fault: bool = False
    evidence: int = 0
    seconds: float = 0.0
    error: str | None = None
    llm: dict[str, float] | None = Field(default=None, description="LLMReport.totals() when on")
    origin: str | None = Field(default=None, description="scenario.yaml origin")
    dataset: str | None = Field(default=None, description="scenario.yaml dataset.name")
    dataset_case: dict[str, str] | None = Field(default=None, description="dataset.case")


class CaseScore(BaseModel):
    id: str
    expected: list[str]
    expected_fault_type: FaultType
    expected_change: ChangeRef | None = None
    ranked: list[str]
    hit_rank: int | None
    fault_type: FaultType | None = None
    fault_type_hit: bool | None = None
    change_hit: bool | None = None
    false_accusation: bool | None = None
    evidence: int = 0
    seconds: float = 0.0
    error: str | None = None
    llm: dict[str, float] | None = None
    origin: str | None = None
    dataset: str | None = None
    dataset_case: dict[str, str] | None = None


class GroupSummary(BaseModel):
    """The ranking measures over a subset of the cases (one origin, dataset or fault family)."""

    cases: int
    ac_at_1: float | None
    ac_at_3: float | None
    avg_at_5: float | None
    fault_type_accuracy: float | None


class Report(BaseModel):
    cases: int
    ac_at_1: float | None
    ac_at_3: float | None
    avg_at_5: float | None
    fault_type_accuracy: float | None
    culprit_change_top1: float | None
    false_accusation_rate: float | None
    mean_evidence: float | None
    mean_seconds: float | None
    total_seconds: float
    per_case: list[CaseScore]
    llm_mean: dict[str, float] | None = Field(
        default=None, description="mean LLM calls/tokens/seconds per case, when an LLM ran"
    )
    by_origin: dict[str, GroupSummary] = Field(default_factory=dict)
    by_dataset: dict[str, GroupSummary] = Field(
        default_factory=dict, description="origin: dataset cases per dataset name"
    )
    by_fault_family: dict[str, GroupSummary] = Field(
        default_factory=dict, description="fault cases per truth fault_type"
    )


def outcome_from(
    case_id: str, investigations: Sequence[Investigation], seconds: float, error: str | None = None
) -> CaseOutcome:
    """The first investigation's analysis and evidence, as a ``CaseOutcome``."""
    inv = investigations[0] if investigations else None
    analysis = inv.analysis if inv is not None and inv.analysis is not None else Analysis()
    ranked: list[str] = []
    faults: list[FaultType] = []
    for h in analysis.hypotheses:
        if h.service not in ranked:
            ranked.append(h.service)
            faults.append(h.fault_type)
    evidence = 0
    if inv is not None and inv.evidence is not None:
        evidence = sum(1 for e in inv.evidence.items if e.status is EvidenceStatus.OK)
    top = analysis.top
    err = error or (inv.error if inv is not None else "no investigation")
    return CaseOutcome(
        id=case_id,
        ranked=ranked,
        fault_types=faults,
        top_change=top.suspect_change if top else None,
        no_fault=analysis.no_fault,
        evidence=evidence,
        seconds=seconds,
        error=err,
        llm=inv.llm.totals() if inv is not None and inv.llm.enabled else None,
    )


def change_matches(truth: ChangeRef, suspect: SuspectChange | None) -> bool:
    if suspect is None:
        return False
    if truth.commit and suspect.commit:
        a, b = truth.commit.lower(), suspect.commit.lower()
        if a.startswith(b) or b.startswith(a):
            return True
    if truth.version and suspect.version and truth.version == suspect.version:
        return True
    return bool(truth.id and (truth.id in suspect.evidence_id or truth.id in suspect.summary))


def score_case(truth: Truth, out: CaseOutcome) -> CaseScore:
    rc = truth.root_cause
    expected = rc.services
    no_fault = rc.fault_type is FaultType.NONE
    hit = next((i + 1 for i, s in enumerate(out.ranked) if s in expected), None)
    top_fault = out.fault_types[0] if out.fault_types else None
    score = CaseScore(
        id=out.id,
        expected=expected,
        expected_fault_type=rc.fault_type,
        expected_change=rc.change,
        ranked=out.ranked,
        hit_rank=hit,
        fault_type=top_fault,
        evidence=out.evidence,
        seconds=out.seconds,
        error=out.error,
        llm=out.llm,
        origin=out.origin,
        dataset=out.dataset,
        dataset_case=out.dataset_case,
    )
    if not no_fault:
        score.fault_type_hit = top_fault is rc.fault_type
    if rc.change is not None:
        score.change_hit = change_matches(rc.change, out.top_change)
    else:
        blamed_service = bool(out.ranked) and not out.no_fault
        blamed_service = blamed_service and any(f is not FaultType.NONE for f in out.fault_types)
        score.false_accusation = out.top_change is not None or (no_fault and blamed_service)
    return score


def _share(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _ranking(scores: Sequence[CaseScore]) -> GroupSummary:
    faulty = [s for s in scores if s.expected_fault_type is not FaultType.NONE]

    def ac(k: int) -> float | None:
        return _share([s.hit_rank is not None and s.hit_rank <= k for s in faulty])

    acs = [ac(k) for k in range(1, 6)]
    return GroupSummary(
        cases=len(scores),
        ac_at_1=acs[0],
        ac_at_3=acs[2],
        avg_at_5=round(sum(a or 0.0 for a in acs) / 5, 4) if faulty else None,
        fault_type_accuracy=_share([bool(s.fault_type_hit) for s in faulty]),
    )


def _groups(scores: Sequence[CaseScore], key: str) -> dict[str, GroupSummary]:
    keys: dict[str, list[CaseScore]] = {}
    for s in scores:
        k = getattr(s, key)
        if k is not None:
            keys.setdefault(str(k), []).append(s)
    return {k: _ranking(v) for k, v in sorted(keys.items())}


def summarize(scores: Sequence[CaseScore]) -> Report:
    ranking = _ranking(scores)
    faulty = [s for s in scores if s.expected_fault_type is not FaultType.NONE]
    total = sum(s.seconds for s in scores)
    return Report(
        cases=len(scores),
        ac_at_1=ranking.ac_at_1,
        ac_at_3=ranking.ac_at_3,
        avg_at_5=ranking.avg_at_5,
        fault_type_accuracy=ranking.fault_type_accuracy,
        culprit_change_top1=_share(
            [bool(s.change_hit) for s in scores if s.change_hit is not None]
        ),
        false_accusation_rate=_share(
            [bool(s.false_accusation) for s in scores if s.false_accusation is not None]
        ),
        mean_evidence=round(sum(s.evidence for s in scores) / len(scores), 2) if scores else None,
        mean_seconds=round(total / len(scores), 3) if scores else None,
        total_seconds=round(total, 3),
        per_case=list(scores),
        llm_mean=_llm_mean(scores),
        by_origin=_groups(scores, "origin"),
        by_dataset=_groups(scores, "dataset"),
        by_fault_family=_groups(faulty, "expected_fault_type"),
    )


def _llm_mean(scores: Sequence[CaseScore]) -> dict[str, float] | None:
    with_llm = [s.llm for s in scores if s.llm is not None]
    if not with_llm:
        return None
    keys = sorted({k for d in with_llm for k in d})
    return {k: round(sum(d.get(k, 0.0) for d in with_llm) / len(with_llm), 4) for k in keys}


def evaluate(pairs: Sequence[tuple[Truth, CaseOutcome]]) -> Report:
    return summarize([score_case(t, o) for t, o in pairs])


def below_thresholds(
    report: Report,
    *,
    min_ac1: float | None = None,
    min_ac3: float | None = None,
    max_false_accusation: float | None = None,
    min_culprit_change: float | None = None,
) -> list[str]:
    """Human-readable threshold failures (empty = pass)."""
    failures: list[str] = []
    if min_ac1 is not None and (report.ac_at_1 or 0.0) < min_ac1:
        failures.append(f"AC@1 {report.ac_at_1} < {min_ac1}")
    if min_ac3 is not None and (report.ac_at_3 or 0.0) < min_ac3:
        failures.append(f"AC@3 {report.ac_at_3} < {min_ac3}")
    far = report.false_accusation_rate or 0.0
    if max_false_accusation is not None and far > max_false_accusation:
        failures.append(f"false-accusation rate {far} > {max_false_accusation}")
    culprit = report.culprit_change_top1
    if min_culprit_change is not None and culprit is not None and culprit < min_culprit_change:
        failures.append(f"culprit-change top-1 {culprit} < {min_culprit_change}")
    return failures
