"""A change's diff moves its score: touching the failing code strengthens, docs/tests weaken."""

from __future__ import annotations

from correlator.models import Change, ChangeDiff, DiffFileSummary, DiffHunk, EvidenceKind
from correlator.rules.schema import Thresholds
from correlator.rules.signals import change_proximity
from correlator.rules.signals.base import Context
from correlator.rules.signals.changes import change_score
from tests.unit.rules import shop
from tests.unit.rules.factories import _envelope, bundle, change


def _diff(*, touches: bool, docs_only: bool, head: str = "abc1234") -> ChangeDiff:
    return ChangeDiff(
        evidence_id=f"diff:payment:0000000..{head}",
        change_id="change:other",
        service="payment",
        provider="github",
        repo="shop/payment",
        base="0000000",
        head=head,
        url="https://github.com/shop/payment/compare/0000000...abc1234",
        files=[DiffFileSummary(path="README.md" if docs_only else "pay.py", category="docs")],
        hunks=[DiffHunk(path="pay.py", header="@@ -1 +1 @@", quote="x = 1", quote_line=3)],
        touches_failing_path=touches,
        docs_or_tests_only=docs_only,
    )


def _ctx(diff: ChangeDiff | None) -> tuple[Context, Change]:
    traces = [shop.payment_fails(version="2.0") for _ in range(2)]
    c = change("payment", 20, to_version="2.0", to_commit="abc1234")
    b = bundle(
        traces=traces,
        changes=[c],
        extra_items=[_envelope(diff.evidence_id, EvidenceKind.DIFF)] if diff else [],
    )
    if diff is not None:
        b = b.model_copy(update={"diffs": [diff]})
    return Context(b, Thresholds()), c


def test_touching_the_failing_path_strengthens_docs_only_weakens() -> None:
    plain_ctx, c = _ctx(None)
    plain = change_score(plain_ctx, c)
    touch_ctx, _ = _ctx(_diff(touches=True, docs_only=False))
    docs_ctx, _ = _ctx(_diff(touches=False, docs_only=True))
    t = Thresholds()
    assert change_score(touch_ctx, c) == min(1.0, plain * t.diff_touch_factor)
    assert change_score(docs_ctx, c) == plain * t.diff_docs_only_factor
    assert change_score(docs_ctx, c) < t.min_change_score


def test_the_diff_is_cited_and_tagged_with_its_change() -> None:
    ctx, c = _ctx(_diff(touches=True, docs_only=False))
    res = change_proximity(ctx)
    assert res.evidence["payment"] == [c.evidence_id, "diff:payment:0000000..abc1234"]
    assert "diff_touches_failing_path" in res.tags["payment"]


def test_a_diff_of_another_release_does_not_count() -> None:
    ctx, c = _ctx(_diff(touches=False, docs_only=True, head="fff9999"))
    plain_ctx, _ = _ctx(None)
    assert change_score(ctx, c) == change_score(plain_ctx, c)
