"""evidence/diffs, diffclues, unidiff: which changes are compared, which hunks explain a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from correlator.evidence.diffclues import Clues, gather_clues
from correlator.evidence.diffs import Target, build_diff, targets
from correlator.evidence.unidiff import category, parse_patch
from correlator.models import (
    Change,
    ChangeKind,
    Compare,
    CompareCommit,
    CompareFile,
    FileStatus,
    Resource,
    Span,
    SpanEvent,
    SpanStatus,
    Trace,
    TraceAnalysis,
    TraceEvidence,
)

ONSET = datetime(2026, 10, 5, 14, 20, tzinfo=UTC)
HISTORY = (
    "@@ -0,0 +1,4 @@\n+package orders\n+\n+// runs behind the new_checkout flag\n"
    "+const q = `SELECT o.id, o.total FROM orders o WHERE o.customer_email = $1`"
)
HANDLER = (
    "@@ -57,3 +57,4 @@ func (h *Handler) Checkout() {\n"
    ' \tctx := r.Context()\n+\tlog.Print("hi")\n \treturn'
)
README = "@@ -1,2 +1,3 @@\n # checkout\n+SELECT * FROM orders WHERE customer_email = 1\n "


def change(service: str = "checkout-api", **kw: object) -> Change:
    fields: dict[str, object] = {
        "evidence_id": f"change:deploy_api:{service}:2.4.1",
        "service": service,
        "kind": ChangeKind.DEPLOY,
        "time": ONSET - timedelta(minutes=1),
        "source": "deploy_api",
        "to_version": "2.4.1",
        "to_commit": "7a3f9c2",
    }
    fields.update(kw)
    return Change.model_validate(fields)


def compare(*files: CompareFile) -> Compare:
    return Compare(
        provider="github",
        repo="shop/checkout-api",
        base="5e1d0b8",
        head="7a3f9c2",
        url="https://github.com/shop/checkout-api/compare/5e1d0b8...7a3f9c2",
        commits=[CompareCommit(sha="7a3f9c2" + "0" * 33, message="order history", author="dev")],
        total_commits=1,
        files=list(files),
    )


def clues() -> Clues:
    c = Clues()
    c.add_statement("SELECT o.id FROM orders o WHERE o.customer_email = $1")
    c.flags.add("new_checkout")
    return c


def test_parse_patch_numbers_added_lines_and_skips_headers() -> None:
    patch = (
        "--- a/x.go\n+++ b/x.go\n@@ -10,3 +10,4 @@ func F() {\n"
        " a\n-b\n+c\n+d\n e\n\\ No newline at end of file"
    )
    (h,) = parse_patch("x.go", patch)
    assert (h.new_start, h.new_lines, h.header) == (10, 4, "@@ -10,3 +10,4 @@ func F() {")
    assert h.added == [(11, "c"), (12, "d")]
    assert h.lines == [" a", "-b", "+c", "+d", " e"]


def test_categories_by_path_convention() -> None:
    assert category("docs/runbook.md") == "docs"
    assert category("README.md") == "docs"
    assert category("orders/history_test.go") == "tests"
    assert category("src/test/java/FooTest.java") == "tests"
    assert category("go.mod") == "deps"
    assert category("requirements-dev.txt") == "deps"
    assert category("config/acquirer.yaml") == "config"
    assert category("orders/history.go") == "code"


def test_the_hunk_with_the_failing_statement_and_flag_comes_first_and_is_quoted() -> None:
    target = Target(change(), "shop/checkout-api", "5e1d0b8", "7a3f9c2")
    files = (
        CompareFile(path="checkout/handler.go", patch=HANDLER),
        CompareFile(path="orders/history.go", status=FileStatus.ADDED, patch=HISTORY),
        CompareFile(path="README.md", patch=README),
    )
    d = build_diff(target, compare(*files), clues())
    top = d.top
    assert top is not None
    assert top.path == "orders/history.go"
    assert {"table orders", "column customer_email", "flag new_checkout"} <= set(top.reasons)
    assert d.quote() == (
        "7a3f9c2 orders/history.go +4: "
        "const q = `SELECT ... FROM orders o WHERE o.customer_email = $1"
    )
    assert d.touches_failing_path
    assert not d.docs_or_tests_only
    readme = next(h for h in d.hunks if h.path == "README.md")
    assert readme.score == 0.0  # docs never touch the failing path, whatever they mention
    assert d.evidence_id == "diff:checkout-api:5e1d0b8..7a3f9c2"


def test_docs_and_tests_only() -> None:
    target = Target(change(), "shop/checkout-api", "5e1d0b8", "7a3f9c2")
    files = (
        CompareFile(path="README.md", patch=README),
        CompareFile(path="orders/history_test.go", patch=HISTORY),
    )
    d = build_diff(target, compare(*files), clues())
    assert d.docs_or_tests_only
    assert not d.touches_failing_path
    truncated = compare(*files).model_copy(update={"files_truncated": True})
    assert not build_diff(target, truncated, clues()).docs_or_tests_only  # unseen files may be code


def test_hunk_lines_are_bounded() -> None:
    patch = "@@ -1,1 +1,500 @@\n" + "\n".join(f"+line {i} " + "x" * 500 for i in range(500))
    target = Target(change(), "r/r", "5e1d0b8", "7a3f9c2")
    d = build_diff(target, compare(CompareFile(path="a.go", patch=patch)), Clues())
    (h,) = d.hunks
    assert len(h.lines) <= 14
    assert all(len(line) <= 200 for line in h.lines)


def _span(**attrs: object) -> Span:
    stack = (
        "panic: boom\n\ngoroutine 1 [running]:\nshop/orders.History(...)\n"
        "\t/src/orders/history.go:16 +0x1d\n"
    )
    return Span(
        trace_id="a" * 32,
        span_id="b" * 16,
        name="POST /checkout",
        start=ONSET,
        end=ONSET + timedelta(seconds=1),
        status=SpanStatus.ERROR,
        attributes=attrs,
        events=[
            SpanEvent(
                name="exception",
                time=ONSET,
                attributes={
                    "exception.stacktrace": stack,
                    "exception.message": "KeyError: 'currency'",
                },
            )
        ],
        resource=Resource(service="checkout-api"),
    )


def test_clues_from_code_attributes_stack_frames_and_messages() -> None:
    span = _span(
        **{
            "code.file.path": "/src/orders/history.go",
            "code.function.name": "shop/orders.History",
            "code.line.number": 16,
        }
    )
    te = TraceEvidence(
        evidence_id="trace:a",
        trace=Trace(trace_id="a" * 32, spans=[span]),
        analysis=TraceAnalysis(),
    )
    c = gather_clues(
        "checkout-api", [te], [], [], [change(description="acquirer.timeout_ms 3000 -> 250")]
    )
    assert "/src/orders/history.go" in c.paths
    assert ("/src/orders/history.go", 16) in c.lines
    assert "history" in c.functions
    assert "currency" in c.symbols
    assert {"acquirer.timeout_ms", "timeout_ms"} <= c.config_keys
    patch = "@@ -10,3 +10,8 @@ func History() {\n a\n+b\n+c\n+d\n+e\n+f\n g"
    target = Target(change(), "r/r", "5e1d0b8", "7a3f9c2")
    d = build_diff(target, compare(CompareFile(path="orders/history.go", patch=patch)), c)
    top = d.top
    assert top is not None
    assert "failing file orders/history.go" in top.reasons
    assert "failing line" in top.reasons
    assert "function history" in top.reasons


def test_targets_need_a_repository_and_a_commit_range() -> None:
    recorded = change()  # no from_commit: taken from the trace-inferred change of the release
    inferred = change(
        evidence_id="change:trace:checkout-api:2.4.1", source="trace", from_commit="5e1d0b8"
    )
    unmapped = change(
        "inventory", evidence_id="change:inv", from_commit="aaaaaaa", to_commit="bbbbbbb"
    )
    found = targets(
        [recorded, inferred, unmapped],
        {"checkout-api": "shop/checkout-api"},
        onset=ONSET,
        preferred=["checkout-api"],
        limit=3,
    )
    assert [(t.change.evidence_id, t.base, t.head) for t in found] == [
        ("change:deploy_api:checkout-api:2.4.1", "5e1d0b8", "7a3f9c2")
    ]
    assert targets([change()], {"checkout-api": "r/r"}, onset=ONSET, preferred=[], limit=3) == []
