"""Remediation rendering: label values are escaped for their destination; proposals only."""

from __future__ import annotations

import shlex

from correlator.models import FaultType
from correlator.rules import RuleSet
from correlator.rules.faults import Verdict
from correlator.rules.remediation import index_suggestion, propose
from correlator.rules.render import render_command, render_promql
from correlator.rules.schema import Thresholds
from correlator.rules.signals.base import Context
from correlator.wire.promql import escape_string
from tests.unit.rules.factories import alert, bundle, change

EVIL = 'pay"ment; rm -rf / #\n$(id)'


def test_promql_rendering_escapes_label_values() -> None:
    out = render_promql('up{service="{{ service }}"}', {"service": EVIL})
    assert out == 'up{service="pay\\"ment; rm -rf / #\\n$(id)"}'
    assert escape_string("a\\b") == "a\\\\b"


def test_promql_rendering_escapes_control_characters_like_evidence_queries() -> None:
    """Rules and evidence share one codec (``correlator.wire.promql``): no twin to drift."""
    out = render_promql('up{service="{{ service }}"}', {"service": "a\x00b\x7f"})
    assert out == 'up{service="a\\x00b\\x7f"}'


def test_command_rendering_shell_quotes_label_values() -> None:
    out = render_command("kubectl rollout undo deployment/{{ service }}", {"service": EVIL})
    assert shlex.split(out) == ["kubectl", "rollout", "undo", f"deployment/{EVIL}"]


def test_rollback_proposal_for_a_hostile_service_name(ruleset: RuleSet) -> None:
    c = change(EVIL, 5, to_version="2", from_version="1", from_commit="abc1234")
    b = bundle(changes=[c], the_alert=alert("HighErrorRate", namespace="prod ns"))
    v = Verdict(fault=FaultType.DEPLOY_REGRESSION, change=c, tags=frozenset(), flag=None)
    rem = propose(ruleset, Context(b, Thresholds()), EVIL, v)
    assert rem.proposed is True
    kubectl = next(cmd for cmd in rem.commands if cmd.startswith("kubectl"))
    assert shlex.split(kubectl) == [
        "kubectl",
        "-n",
        "prod ns",
        "rollout",
        "undo",
        f"deployment/{EVIL}",
    ]
    argocd = next(cmd for cmd in rem.commands if cmd.startswith("argocd"))
    assert "--revision abc1234" in argocd


def test_verify_query_is_escaped_promql(ruleset: RuleSet) -> None:
    b = bundle(the_alert=alert("HighCPU"))
    v = Verdict(fault=FaultType.RESOURCE_CPU, change=None, tags=frozenset({"cpu"}), flag=None)
    rem = propose(ruleset, Context(b, Thresholds()), EVIL, v)
    assert 'service="pay\\"ment; rm -rf / #\\n$(id)"' in rem.verify


def test_index_suggestion_parses_table_and_filtered_column() -> None:
    stmts = [
        "SELECT id FROM users WHERE email = ?",
        "select * from public.orders o where o.customer_id = $1 order by created_at",
    ]
    logs = ["slow query: seq scan on public.orders (1.1M rows)"]
    assert index_suggestion(stmts, logs) == (
        "CREATE INDEX CONCURRENTLY ON public.orders (customer_id);"
    )
    assert index_suggestion(["UPDATE t SET a = 1"], []) is None


def test_index_suggestion_prefers_the_most_suspect_statement_without_log_evidence() -> None:
    slow_first = [
        "SELECT * FROM orders WHERE customer_email = $1 ORDER BY created_at DESC",
        "SELECT * FROM carts WHERE session_id = $1",
    ]
    assert index_suggestion(slow_first, []) == (
        "CREATE INDEX CONCURRENTLY ON orders (customer_email);"
    )
    assert index_suggestion(slow_first[::-1], []) == (
        "CREATE INDEX CONCURRENTLY ON carts (session_id);"
    )
