"""Case-by-case comparison with another method's ranks (``correlator eval --reference FILE``).

Reads Nezha's result logs (``reference_results/OnlineBoutique_service_result.log[.gz]``), whose
lines ``<date> <time> Inject Ground Truth: <pod>, <type> score <rank>`` give the rank at which
Nezha put the faulty pod. A dataset case (``scenario.yaml`` ``dataset.case``: ``inject_time``,
``pod``, ``fault``) matches the line with the same pod and fault type whose time is nearest and
within ``MATCH_SECONDS`` (Nezha prints its own window start, up to a minute off the injection).
A case with no line is a reference miss: Nezha prints the line only when it ranked the pod.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from correlator.lab.evaluate import CaseScore

MATCH_SECONDS = 90
_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) Inject Ground Truth: ([\w.-]+), (\w+) score (\d+)"
)


@dataclass(frozen=True)
class ReferenceRank:
    when: datetime
    pod: str
    fault: str
    rank: int


class CaseComparison(BaseModel):
    id: str
    fault: str | None
    ours: int | None
    reference: int | None
    matched: bool


class Comparison(BaseModel):
    """Both methods on the same cases: AC@k of each and the per-case ranks."""

    file: str
    cases: int
    matched: int
    ours_ac_at_1: float | None
    ours_ac_at_3: float | None
    reference_ac_at_1: float | None
    reference_ac_at_3: float | None
    per_case: list[CaseComparison]


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def parse_reference(path: Path) -> list[ReferenceRank]:
    """Every ``... Inject Ground Truth: <pod>, <type> score <rank>`` line of the log."""
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return [
        ReferenceRank(_utc(m.group(1)), m.group(2), m.group(3), int(m.group(4)))
        for m in _LINE.finditer(text)
    ]


def _match(case: dict[str, str], refs: list[ReferenceRank]) -> ReferenceRank | None:
    when = _utc(case.get("inject_time", "1970-01-01 00:00:00"))
    near = [
        r
        for r in refs
        if r.pod == case.get("pod")
        and r.fault == case.get("fault")
        and abs((r.when - when).total_seconds()) <= MATCH_SECONDS
    ]
    return min(near, key=lambda r: abs((r.when - when).total_seconds()), default=None)


def _ac(ranks: list[int | None], k: int) -> float | None:
    if not ranks:
        return None
    return round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 4)


def compare(scores: list[CaseScore], path: Path) -> Comparison:
    """Our hit ranks beside the reference's on the dataset cases of ``scores``."""
    refs = parse_reference(path)
    rows: list[CaseComparison] = []
    for s in scores:
        if not s.dataset_case:
            continue
        ref = _match(s.dataset_case, refs)
        rows.append(
            CaseComparison(
                id=s.id,
                fault=s.dataset_case.get("fault"),
                ours=s.hit_rank,
                reference=ref.rank if ref else None,
                matched=ref is not None,
            )
        )
    return Comparison(
        file=path.name,
        cases=len(rows),
        matched=sum(1 for r in rows if r.matched),
        ours_ac_at_1=_ac([r.ours for r in rows], 1),
        ours_ac_at_3=_ac([r.ours for r in rows], 3),
        reference_ac_at_1=_ac([r.reference for r in rows], 1),
        reference_ac_at_3=_ac([r.reference for r in rows], 3),
        per_case=rows,
    )
