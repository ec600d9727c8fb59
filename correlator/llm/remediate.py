"""The remediate stage: a proposal (never executed) grounded in the evidence.

A rollback is accepted only to a version or commit the evidence shows; commands outside the
allowed shapes (``llm_command_shapes`` in rules/remediation.yaml) are published as prose; an
invalid answer keeps the rules' remediation.
"""

from __future__ import annotations

from correlator.llm.budget import clip, diff_ctx
from correlator.llm.client import LLMCallError
from correlator.llm.commands import as_prose
from correlator.llm.runner import Run, StageClock, structured
from correlator.llm.schemas import RemediateOut
from correlator.llm.stages import alert_ctx, catalog, over_budget, rule_ctx
from correlator.models import Analysis, EvidenceBundle, Hypothesis, Remediation, RemediationKind


def _known_targets(bundle: EvidenceBundle) -> tuple[set[str], set[str]]:
    versions: set[str] = set()
    commits: set[str] = set()
    for c in bundle.changes:
        versions.update(v for v in (c.from_version, c.to_version) if v)
        commits.update(v for v in (c.from_commit, c.to_commit) if v)
    for t in bundle.traces:
        versions.update(t.analysis.versions.values())
        commits.update(t.analysis.commits.values())
    return versions, commits


def to_remediation(run: Run, out: RemediateOut) -> Remediation | None:
    """Accept only rollbacks to a version/commit the evidence actually shows."""
    versions, commits = _known_targets(run.bundle)
    if out.target_version and out.target_version not in versions:
        return None
    if out.target_commit and out.target_commit not in commits:
        return None
    if out.kind is RemediationKind.ROLLBACK and not (out.target_version or out.target_commit):
        return None
    url = next(
        (
            c.url
            for c in run.bundle.changes
            if c.url
            and (
                (out.target_version and out.target_version == c.from_version)
                or (out.target_commit and out.target_commit == c.from_commit)
            )
        ),
        None,
    )
    commands, refused = run.commands.split([clip(c, 400) for c in out.commands])
    summary, risk = out.summary, out.risk
    if refused:  # D7: only allowed command shapes are published as commands
        summary = f"{summary} ({as_prose(refused)})"[:2000]
        risk = f"not validated by correlator; {risk}" if risk else "not validated by correlator"
    return Remediation(
        kind=out.kind,
        summary=summary,
        commands=commands,
        target_version=out.target_version,
        target_commit=out.target_commit,
        compare_url=url,
        risk=risk,
        verify=out.verify,
        source="llm",
    )


def remediate_messages(run: Run, top: Hypothesis) -> list[dict[str, str]]:
    changes = [c for c in run.bundle.changes if c.service == top.service] or run.bundle.changes
    return run.messages(
        "remediate",
        "remediate.j2",
        alert=alert_ctx(run.bundle),
        hypothesis=rule_ctx(top),
        changes=[
            c.model_dump(mode="json", exclude={"description", "author"}) for c in changes[:10]
        ],
        rules_remediation=top.remediation.model_dump(mode="json") if top.remediation else None,
        diffs=[diff_ctx(d) for d in run.bundle.diffs if d.service == top.service][:2],
        catalog=catalog(run.bundle),
    )


async def remediate(run: Run, analysis: Analysis) -> Remediation | None:
    top = analysis.top
    st = run.new_stats("remediate")
    clock = StageClock(run, st)
    if top is None:
        clock.done("skipped")
        return None
    await run.event("llm.stage", {"stage": "remediate", "status": "started"})
    msgs = remediate_messages(run, top)
    if over_budget(run, st, msgs):
        clock.done("over_budget")
        return None
    try:
        out = await structured(run, st, RemediateOut, msgs, stream=run.mode == "stream")
    except LLMCallError as e:
        st.error = str(e)
        clock.done(e.kind)
        raise
    rem = to_remediation(run, out) if out is not None else None
    if out is not None and rem is None:
        st.error = "rollback target not found in evidence"
    clock.done("ok" if rem is not None else "invalid")
    await run.event("llm.stage", {"stage": "remediate", "status": st.status})
    return rem
