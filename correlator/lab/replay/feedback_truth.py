"""``correlator replay --truth feedback``: score a replay against the verdicts people gave.

Each investigation with a verdict in force becomes a truth entry keyed like replay rows
(``<fingerprint>@<startsAt>``, and the bare fingerprint): ``correct`` and ``partly`` without a
stated cause confirm the top hypothesis that was proposed (service and fault type); a stated
root cause (typically with ``wrong``) is the truth when it names a service and a fault type.
Verdicts that say only "wrong" carry no cause to score against and are left out (counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from correlator.lab.replay.sources import alert_key
from correlator.lab.scenarios import RootCause, Truth
from correlator.models import FaultType, Feedback, Verdict
from correlator.settings import Settings
from correlator.store import SqlStore


@dataclass(frozen=True)
class FeedbackTruth:
    truth: dict[str, Truth]
    used: int
    skipped: int


def truth_of(fb: Feedback) -> Truth | None:
    """The root cause a verdict states, or None when it states none."""
    rc = fb.root_cause
    service = rc.service if rc and rc.service else None
    fault = rc.fault_type if rc and rc.fault_type else None
    if service is None and fault is None and fb.verdict is not Verdict.WRONG:
        service, fault = fb.predicted_service, fb.predicted_fault_type
    if not service or fault not in {f.value for f in FaultType} or fault == FaultType.NONE:
        return None
    return Truth(root_cause=RootCause(service=service, fault_type=FaultType(fault)))


def _key(fingerprint: str, starts_at: datetime) -> str:
    return alert_key({"fingerprint": fingerprint, "startsAt": starts_at.astimezone(UTC)})


async def load_feedback_truth(settings: Settings) -> FeedbackTruth:
    """Truth from the store at ``settings.database_url`` (the verdicts in force)."""
    store = SqlStore(settings.database_url)
    try:
        await store.create_schema()
        verdicts = await store.latest_verdicts()
    finally:
        await store.close()
    truth: dict[str, Truth] = {}
    skipped = 0
    for fingerprint, starts_at, fb in verdicts:
        t = truth_of(fb)
        if t is None:
            skipped += 1
            continue
        truth[_key(fingerprint, starts_at)] = t
        truth.setdefault(fingerprint, t)
    return FeedbackTruth(truth=truth, used=len(verdicts) - skipped, skipped=skipped)
