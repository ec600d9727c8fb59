"""Memory of past incidents as a prior: it breaks ties, it never outweighs current evidence.

Past incidents of the same alert rule and service whose cause someone confirmed (``correct`` or
``partly``, or the real cause given with ``wrong``) vote for that cause's service. The vote only
orders hypotheses whose evidence scores are exactly equal (``rank`` sorts by total first), and
the hypothesis it favours cites the memory item, so the note says why.
"""

from __future__ import annotations

from collections import Counter

from correlator.models import EvidenceBundle, Verdict


def confirmed_services(bundle: EvidenceBundle) -> Counter[str]:
    """service -> how many similar past incidents were confirmed as caused by it."""
    votes: Counter[str] = Counter()
    memory = bundle.memory
    if memory is None:
        return votes
    for past in memory.similar:
        if past.cause_service and (past.verdict is not Verdict.WRONG or past.cause):
            votes[past.cause_service] += 1
    return votes


def memory_citation(bundle: EvidenceBundle, service: str, votes: Counter[str]) -> list[str]:
    """The memory item's id when past incidents confirm ``service`` (else nothing)."""
    if bundle.memory is None or not votes.get(service):
        return []
    return [bundle.memory.evidence_id] if bundle.memory.evidence_id in bundle.ids() else []
