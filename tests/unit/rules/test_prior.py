"""Memory as a prior: confirmed past causes break ties, never outweigh the current evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from correlator.models import (
    Evidence,
    EvidenceBundle,
    EvidenceKind,
    EvidenceStatus,
    IncidentMemory,
    PastIncident,
    Verdict,
)
from correlator.rules import RuleSet, rank
from tests.unit.rules.factories import bundle, series

CPU_SPIKE = [0.2] * 10 + [0.97] * 8


def remembered(
    b: EvidenceBundle, service: str, verdict: Verdict = Verdict.CORRECT
) -> EvidenceBundle:
    past = PastIncident(
        investigation_id="past-1",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        similarity=1.0,
        verdict=verdict,
        cause=f"{service} resource cpu",
        cause_service=service,
    )
    memory = IncidentMemory(similar_count=1, similar=[past])
    item = Evidence(
        id=memory.evidence_id,
        kind=EvidenceKind.MEMORY,
        status=EvidenceStatus.OK,
        source="correlator",
        summary="1 similar incident in 30 days",
    )
    return b.model_copy(update={"memory": memory, "items": [*b.items, item]})


def test_confirmed_past_cause_breaks_an_exact_tie(ruleset: RuleSet) -> None:
    tied = bundle(metrics=[series("alpha", "cpu", CPU_SPIKE), series("beta", "cpu", CPU_SPIKE)])
    plain = rank(tied, ruleset)
    assert [h.service for h in plain.hypotheses[:2]] == ["alpha", "beta"]  # by name
    assert plain.hypotheses[0].confidence == plain.hypotheses[1].confidence
    prior = rank(remembered(tied, "beta"), ruleset)
    assert [h.service for h in prior.hypotheses[:2]] == ["beta", "alpha"]
    assert "memory:similar" in prior.hypotheses[0].evidence_ids
    assert "memory:similar" not in prior.hypotheses[1].evidence_ids


def test_prior_never_outweighs_current_evidence(ruleset: RuleSet) -> None:
    weak = [0.5] * 10 + [0.7] * 8  # a smaller rise: a lower resource score
    b = bundle(metrics=[series("alpha", "cpu", CPU_SPIKE), series("beta", "cpu", weak)])
    plain = rank(b, ruleset)
    assert plain.top is not None
    assert plain.top.service == "alpha"
    prior = rank(remembered(b, "beta"), ruleset)
    assert [h.service for h in prior.hypotheses] == [h.service for h in plain.hypotheses]
    assert [h.confidence for h in prior.hypotheses] == [h.confidence for h in plain.hypotheses]


def test_a_past_verdict_of_wrong_without_a_cause_is_no_vote(ruleset: RuleSet) -> None:
    tied = bundle(metrics=[series("alpha", "cpu", CPU_SPIKE), series("beta", "cpu", CPU_SPIKE)])
    memory_wrong = remembered(tied, "beta", Verdict.WRONG)
    assert memory_wrong.memory is not None
    memory_wrong.memory.similar[0].cause = None
    a = rank(memory_wrong, ruleset)
    assert [h.service for h in a.hypotheses[:2]] == ["alpha", "beta"]
