"""The digest (map, parallel) and rank (reduce, cited) stages; remediate is in ``remediate.py``.

Every stage has a rules fallback: a failed digest call leaves that chunk's own computed facts; an
invalid or uncited ranking keeps the rules' ranking; an invalid remediation keeps the rules'
remediation. Citations are checked against the bundle's evidence ids; claims citing nothing real
are dropped. Nothing the model says is executed: commands are text in a proposal.
"""

from __future__ import annotations

import asyncio

from correlator.llm.budget import Chunk, clip, compact, count_tokens, fit, ident
from correlator.llm.client import LLMCallError
from correlator.llm.runner import Run, StageClock, prompt_tokens, structured
from correlator.llm.schemas import DigestOut, Fact, RankedHypothesis, RankOut
from correlator.models import (
    Analysis,
    EvidenceBundle,
    Hypothesis,
    LLMStageStats,
    SuspectChange,
)


def ordered_ids(bundle: EvidenceBundle) -> list[str]:
    """Every evidence id of the bundle (envelopes and typed payloads), in a stable order."""
    ids = [e.id for e in bundle.items]
    ids += [t.evidence_id for t in bundle.traces]
    ids += [t.evidence_id for t in bundle.trace_logs]
    ids += [p.evidence_id for p in bundle.log_patterns]
    ids += [c.evidence_id for c in bundle.changes]
    ids += [m.evidence_id for m in bundle.metrics]
    return ids


def known_ids(bundle: EvidenceBundle) -> set[str]:
    return set(ordered_ids(bundle))


def alert_ctx(bundle: EvidenceBundle) -> dict[str, object]:
    a = bundle.alert
    return {
        "name": ident(a.alertname, 200),
        "status": a.status.value,
        "severity": ident(a.severity),
        "service": ident(bundle.alert_service) if bundle.alert_service else None,
        "starts_at": a.starts_at.isoformat(),
        "onset": bundle.onset.isoformat(),
        "expr": bundle.expr,
        "labels": dict(sorted(a.labels.items())),
        "annotations": dict(sorted(a.annotations.items())),
    }


def catalog(bundle: EvidenceBundle) -> list[dict[str, object]]:
    return [
        {
            "id": e.id,
            "kind": e.kind.value,
            "status": e.status.value,
            "service": ident(e.service) if e.service else None,
            "summary": clip(e.summary, 200),
            "error": clip(e.error, 120) if e.error else None,
            "note": f"{e.id}: {clip(e.summary, 200)}"
            + (f" (error: {clip(e.error, 120)})" if e.error else ""),
        }
        for e in bundle.items
    ]


def rule_ctx(h: Hypothesis) -> dict[str, object]:
    return {
        "service": ident(h.service),
        "fault_type": h.fault_type.value,
        "confidence": round(h.confidence, 3),
        "statement": h.statement,
        "evidence_ids": h.evidence_ids,
        "suspect_change": h.suspect_change.evidence_id if h.suspect_change else None,
    }


def cited(ids: list[str], known: set[str]) -> list[str]:
    return list(dict.fromkeys(i for i in ids if i in known))


def over_budget(run: Run, st: LLMStageStats, messages: list[dict[str, str]]) -> bool:
    """True (and noted) when even the most compacted prompt exceeds the stage's input budget."""
    budget = run.stage_settings(st.stage).max_input_tokens
    used = prompt_tokens(messages)
    if used <= budget:
        return False
    st.error = f"prompt needs ~{used} tokens even fully compacted; max_input_tokens is {budget}"
    return True


MAX_DIGEST_CHUNKS = 16


# -- digest ------------------------------------------------------------------------------------
def needs_digest(run: Run, chunks: list[Chunk]) -> bool:
    """Small bundles skip digest: their compacted evidence fits half the rank budget."""
    size = sum(count_tokens("\n".join(c.facts + c.data)) for c in chunks)
    return len(chunks) > 1 and size > run.settings.rank.max_input_tokens // 2


FACT_MAX_IDS = 20  # ``Fact.evidence_ids`` max_length: a metrics chunk can hold 47 ids (D1)


def _chunk_fallback(chunk: Chunk) -> list[Fact]:
    """The chunk's own computed facts when its digest call failed (ids capped to the schema)."""
    ids = (chunk.ids or [chunk.id])[:FACT_MAX_IDS]
    return [Fact(statement=f[:600], evidence_ids=ids) for f in chunk.facts[:5]]


def digest_messages(run: Run, chunk: Chunk) -> list[dict[str, str]]:
    """The digest prompt for one chunk, its raw excerpts halved until it fits the budget."""
    budget = run.settings.digest.max_input_tokens
    alert = alert_ctx(run.bundle)
    messages = run.messages("digest", "digest.j2", alert=alert, chunk=chunk.ctx())
    while prompt_tokens(messages) > budget and chunk.data:
        chunk.data = chunk.data[: len(chunk.data) // 2]
        messages = run.messages("digest", "digest.j2", alert=alert, chunk=chunk.ctx())
    return messages


async def _digest_chunk(run: Run, st: LLMStageStats, chunk: Chunk) -> list[Fact]:
    messages = digest_messages(run, chunk)
    if over_budget(run, st, messages):
        return _chunk_fallback(chunk)
    try:
        out = await structured(run, st, DigestOut, messages, stream=False)
    except LLMCallError as e:
        st.error = str(e)
        return _chunk_fallback(chunk)
    if out is None:
        return _chunk_fallback(chunk)
    facts = []
    for f in out.facts:
        ids = cited(f.evidence_ids, run.known_ids)
        if ids:
            facts.append(f.model_copy(update={"evidence_ids": ids}))
    return facts


async def digest(run: Run, chunks: list[Chunk]) -> list[Fact] | None:
    """Facts from every chunk in parallel, or None when the bundle is small (stage skipped)."""
    st = run.new_stats("digest")
    clock = StageClock(run, st)
    if not needs_digest(run, chunks):
        clock.done("skipped")
        return None
    chunks = chunks[:MAX_DIGEST_CHUNKS]  # most important first: a fixed budget, not a fan-out
    await run.event("llm.stage", {"stage": "digest", "status": "started", "chunks": len(chunks)})
    results = await asyncio.gather(*(_digest_chunk(run, st, c) for c in chunks))
    facts = [f for group in results for f in group]
    if not facts:  # nothing cited: rank reads the compacted evidence instead
        clock.done("invalid")
        st.error = st.error or "no fact cited known evidence"
        return None
    ok = st.failures == 0 and st.error is None
    clock.done("ok" if ok else "partial")
    await run.event("llm.stage", {"stage": "digest", "status": st.status, "facts": len(facts)})
    return facts


# -- rank --------------------------------------------------------------------------------------
def _fact_lines(facts: list[Fact]) -> list[str]:
    return [
        f"[{', '.join(f.evidence_ids)}]"
        + (f" ({f.service})" if f.service else "")
        + f" {f.statement}"
        for f in facts
    ]


def memory_ctx(bundle: EvidenceBundle) -> dict[str, object] | None:
    """Similar past incidents for the rank prompt (redacted with the bundle), or None."""
    mem = bundle.memory
    if mem is None or not mem.similar:
        return None
    lines = [
        f"{p.created_at.date().isoformat()} similarity {p.similarity:.2f}: "
        + (f"verdict {p.verdict.value}" if p.verdict else "no verdict")
        + (f"; cause {clip(p.cause, 200)}" if p.cause else "")
        + (f"; fixed by {clip(p.fix, 200)}" if p.fix else "")
        for p in mem.similar
    ]
    return {
        "id": mem.evidence_id,
        "lines": [f"{mem.similar_count} similar in {mem.window_days} days", *lines],
    }


def rank_messages(run: Run, chunks: list[Chunk], facts: list[Fact] | None) -> list[dict[str, str]]:
    base: dict[str, object] = {
        "alert": alert_ctx(run.bundle),
        "catalog": catalog(run.bundle),
        "rules": [rule_ctx(h) for h in run.analysis.hypotheses[:5]],
        "rules_no_fault": run.analysis.no_fault,
        "memory": memory_ctx(run.bundle),
    }
    budget = run.settings.rank.max_input_tokens
    if facts is not None:
        kept = list(facts)
        msgs = run.messages("rank", "rank.j2", evidence=[], facts=_fact_lines(kept), **base)
        while prompt_tokens(msgs) > budget and kept:
            kept = kept[: len(kept) * 3 // 4]
            msgs = run.messages("rank", "rank.j2", evidence=[], facts=_fact_lines(kept), **base)
        return msgs

    def render(cs: list[Chunk]) -> str:
        ev = [c.ctx() for c in cs]
        return "\n".join(
            m["content"] for m in run.messages("rank", "rank.j2", evidence=ev, facts=[], **base)
        )

    _, used, _ = fit(render, run.bundle, budget)
    return run.messages("rank", "rank.j2", evidence=[c.ctx() for c in used], facts=[], **base)


def _to_hypothesis(run: Run, h: RankedHypothesis, ids: list[str]) -> Hypothesis:
    match = next(
        (
            r
            for r in run.analysis.hypotheses
            if r.service == h.service and r.fault_type == h.fault_type
        ),
        None,
    )
    suspect = match.suspect_change if match else None
    if suspect is None:
        change = next((c for c in run.bundle.changes if c.evidence_id in ids), None)
        if change is not None:
            suspect = SuspectChange(
                evidence_id=change.evidence_id,
                kind=change.kind.value,
                service=change.service,
                summary=_change_summary(change.from_version, change.to_version),
                version=change.to_version,
                commit=change.to_commit,
            )
    if suspect is not None and suspect.evidence_id in run.id_map:
        suspect = suspect.model_copy(update={"evidence_id": run.id_map[suspect.evidence_id]})
    return Hypothesis(
        service=h.service,
        fault_type=h.fault_type,
        statement=h.statement,
        confidence=h.confidence,
        scores=dict(match.scores) if match else {},
        evidence_ids=[run.id_map.get(i, i) for i in ids],
        suspect_change=suspect,
        remediation=match.remediation if match else None,
        source="llm",
    )


def _change_summary(a: str | None, b: str | None) -> str:
    return f"{a or '?'} -> {b or '?'}"


def ranked_analysis(run: Run, out: RankOut) -> Analysis | None:
    """The LLM ranking with only cited hypotheses, or None when nothing valid remains."""
    hyps = []
    for h in out.hypotheses:
        ids = cited(h.evidence_ids, run.known_ids)
        if ids:
            hyps.append(_to_hypothesis(run, h, ids))
    if not hyps:
        rules_agree = run.analysis.no_fault or not run.analysis.hypotheses
        if out.no_fault and rules_agree:
            return run.analysis.model_copy(update={"no_fault": True})
        return None
    hyps.sort(key=lambda x: -x.confidence)
    return run.analysis.model_copy(update={"hypotheses": hyps, "no_fault": False})


async def rank(
    run: Run, chunks: list[Chunk], facts: list[Fact] | None, stage: str = "rank"
) -> Analysis | None:
    st = run.new_stats(stage)
    clock = StageClock(run, st)
    await run.event("llm.stage", {"stage": stage, "status": "started"})
    msgs = naive_messages(run) if stage == "naive" else rank_messages(run, chunks, facts)
    if stage != "naive" and over_budget(run, st, msgs):
        clock.done("over_budget")
        return None
    try:
        out = await structured(
            run, st, RankOut, msgs, stream=run.mode == "stream" and stage == "rank"
        )
    except LLMCallError as e:
        st.error = str(e)
        clock.done(e.kind)
        raise
    result = ranked_analysis(run, out) if out is not None else None
    if out is not None and result is None:
        st.error = "no hypothesis cited known evidence"
    clock.done("ok" if result is not None else "invalid")
    await run.event("llm.stage", {"stage": stage, "status": st.status})
    return result


def naive_messages(run: Run) -> list[dict[str, str]]:
    """Baseline: every piece of (redacted) evidence as JSON in one prompt, no compaction."""
    skip = {"alert"} if run.bundle.memory is not None else {"alert", "memory"}
    dump = run.bundle.model_dump(mode="json", exclude=skip)
    return run.messages("naive", "naive.j2", alert=alert_ctx(run.bundle), bundle=dump)


def chunks_for(run: Run) -> list[Chunk]:
    return compact(run.bundle, 0)
