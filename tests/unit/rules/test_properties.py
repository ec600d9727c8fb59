"""Property tests: ranking is deterministic under input reordering and cites only real ids."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from correlator.models import ChangeKind, EvidenceBundle
from correlator.rules import RuleSet, load_ruleset, rank
from tests.unit.rules import shop
from tests.unit.rules.conftest import RULES_DIR
from tests.unit.rules.factories import bundle, change, pattern, patterns, series

RULESET: RuleSet = load_ruleset(RULES_DIR)
SERVICES = ["frontend", "checkout", "payment", "search"]

_trace_makers = st.sampled_from(
    [
        lambda: shop.payment_fails("2.0"),
        lambda: shop.checkout_dials("payment:50051"),
        lambda: shop.checkout_dials("nowhere:1"),
        lambda: shop.payment_slow(500),
        lambda: shop.slow_network_to_payment(200),
        lambda: shop.healthy(baseline=False),
        lambda: shop.healthy(baseline=True),
    ]
)


@st.composite
def bundles(draw: st.DrawFn) -> EvidenceBundle:
    traces = [make() for make in draw(st.lists(_trace_makers, max_size=6))]
    changes = [
        change(
            draw(st.sampled_from(SERVICES)),
            draw(st.floats(0, 200)),
            kind=draw(st.sampled_from(list(ChangeKind))),
            to_version="2.0",
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    pats = [
        patterns(
            s,
            pattern(
                s,
                f"{s} failed <*>",
                draw(st.integers(0, 50)),
                draw(st.integers(0, 20)),
                new=draw(st.booleans()),
            ),
        )
        for s in draw(st.lists(st.sampled_from(SERVICES), unique=True, max_size=3))
    ]
    metrics = [
        series(s, sig, [1.0] * 8 + [draw(st.floats(0, 10))] * 6)
        for s, sig in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(SERVICES),
                    st.sampled_from(
                        [
                            "cpu",
                            "memory",
                            "request_rate",
                            "error_ratio",
                            "latency",
                            "packet_drops",
                            "restarts",
                        ]
                    ),
                ),
                unique=True,
                max_size=3,
            )
        )
    ]
    return bundle(traces=traces, changes=changes, log_patterns=pats, metrics=metrics)


def _shuffled(b: EvidenceBundle, seed: int) -> EvidenceBundle:
    rnd = random.Random(seed)
    fields = {}
    for name in ("items", "traces", "log_patterns", "changes", "metrics"):
        values = list(getattr(b, name))
        rnd.shuffle(values)
        fields[name] = values
    traces = []
    for te in fields["traces"]:
        spans = list(te.trace.spans)
        rnd.shuffle(spans)
        traces.append(te.model_copy(update={"trace": te.trace.model_copy(update={"spans": spans})}))
    fields["traces"] = traces
    return b.model_copy(update=fields)


@settings(max_examples=60, deadline=None)
@given(bundles(), st.integers(0, 2**16))
def test_ranking_is_deterministic_under_shuffled_inputs(b: EvidenceBundle, seed: int) -> None:
    first = rank(b, RULESET)
    again = rank(_shuffled(b, seed), RULESET)
    assert first.model_dump() == again.model_dump()


@settings(max_examples=60, deadline=None)
@given(bundles())
def test_every_cited_evidence_id_exists_in_the_bundle(b: EvidenceBundle) -> None:

    a = rank(b, RULESET)
    ids = b.ids()
    for h in a.hypotheses:
        assert set(h.evidence_ids) <= ids
        assert h.evidence_ids, "an accusation must cite evidence"
        if h.suspect_change is not None:
            assert h.suspect_change.evidence_id in ids
        assert 0.0 <= h.confidence <= 1.0
    assert [h.service for h in a.hypotheses] == list(dict.fromkeys(h.service for h in a.hypotheses))
