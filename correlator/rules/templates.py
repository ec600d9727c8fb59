"""The variables each kind of rules template may use, and a dry-run check of every template."""

from __future__ import annotations

from correlator.errors import ConfigError
from correlator.rules.render import render_command, render_promql
from correlator.rules.schema import RulesFile

Loc = tuple[int | str, ...]

# Label-value variables (escaped for PromQL/LogQL); label *names* are passed raw.
# ``pod_regex`` matches the pod names of the service's workload (``<service>-<rs hash>-<id>``,
# ``<service>-<ordinal>``): cAdvisor and kube-state-metrics series carry pod, never service.
PROMQL_VARS = ("service", "namespace", "alertname", "pod_regex")
PROMQL_RAW = ("service_label", "namespace_label", "expr")
# Command variables (each value shell-quoted); empty string when unknown.
COMMAND_VARS = ("service", "namespace", "version", "commit", "bad_version", "bad_commit", "flag")

_SAMPLE = {
    "service": "svc",
    "namespace": "ns",
    "alertname": "A",
    "pod_regex": "svc-[a-z0-9]{5}",
    "version": "1.0.0",
    "commit": "abc1234",
    "bad_version": "1.0.1",
    "bad_commit": "def5678",
    "flag": "flag.key",
}
_SAMPLE_RAW = {"service_label": "service", "namespace_label": "namespace", "expr": "up == 0"}


def promql_values(**values: str) -> dict[str, str]:
    return {k: values.get(k, "") for k in PROMQL_VARS}


def command_values(**values: str) -> dict[str, str]:
    return {k: values.get(k, "") for k in COMMAND_VARS}


def _try(loc: Loc, fn: object, template: str, out: list[tuple[Loc, str]]) -> None:
    if not template:
        return
    try:
        if fn == "promql":
            render_promql(template, {k: _SAMPLE[k] for k in PROMQL_VARS}, **_SAMPLE_RAW)
        else:
            render_command(template, {k: _SAMPLE[k] for k in COMMAND_VARS})
    except ConfigError as exc:
        out.append((loc, str(exc)))


def template_problems(rf: RulesFile) -> list[tuple[Loc, str]]:
    """Every template of one file rendered with sample values; (location, message) on failure."""
    out: list[tuple[Loc, str]] = []
    for i, m in enumerate(rf.metrics):
        _try(("metrics", i, "expr"), "promql", m.expr, out)
    if rf.remediation is not None:
        rem = rf.remediation
        for tool in ("kubectl", "helm", "argocd"):
            _try(("remediation", "rollback", tool), "cmd", getattr(rem.rollback, tool), out)
        for key in ("disable_flag", "revert_config", "scale", "restart"):
            for i, t in enumerate(getattr(rem, key)):
                _try(("remediation", key, i), "cmd", t, out)
        for fault, t in rem.verify.items():
            _try(("remediation", "verify", fault.value), "promql", t, out)
        _try(("remediation", "verify_default"), "promql", rem.verify_default, out)
    if rf.next_queries is not None:
        for key, t in rf.next_queries.model_dump().items():
            _try(("next_queries", key), "promql", t, out)
    return out
