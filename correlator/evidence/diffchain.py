"""Compare the suspect changes and keep their diffs (runs once traces, logs and changes are in).

One envelope per compare (``diff:<service>:<base>..<head>``, kind ``diff``, source the provider
name). Nothing is recorded when no Git provider is configured or no change has a repository and
a commit range: the diff enriches a change, its absence is not a gap in the evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from correlator.evidence import diffs
from correlator.evidence.diffclues import Clues, gather_clues
from correlator.evidence.envelope import Probe, Recorder
from correlator.models import (
    Change,
    ChangeDiff,
    EvidenceKind,
    ServiceLogPatterns,
    TraceEvidence,
    TraceLogs,
)
from correlator.ports import ChangeSource
from correlator.settings import Settings


class DiffChain:
    def __init__(self, rec: Recorder, source: ChangeSource | None, settings: Settings) -> None:
        self.rec, self.source, self.settings = rec, source, settings
        self.diffs: list[ChangeDiff] = []

    def _repos(
        self, source: ChangeSource, changes: Sequence[Change], traces: Sequence[TraceEvidence]
    ) -> dict[str, str]:
        """service -> repository: configured first, else a span-declared URL on the provider."""
        out: dict[str, str] = {}
        for service in sorted({c.service for c in changes}):
            repo = self.settings.git.repos.get(service)
            if repo is None:
                found = (source.repository(u) for u in diffs.repo_from_spans(service, traces))
                repo = next((r for r in found if r), None)
            if repo:
                out[service] = repo
        return out

    async def run(
        self,
        changes: Sequence[Change],
        traces: Sequence[TraceEvidence],
        logs: Sequence[TraceLogs],
        patterns: Sequence[ServiceLogPatterns],
        *,
        onset: datetime,
        preferred: Sequence[str],
    ) -> None:
        source = self.source
        if source is None or not changes:
            return
        found = diffs.targets(
            changes,
            self._repos(source, changes, traces),
            onset=onset,
            preferred=preferred,
            limit=self.settings.git.max_compares,
        )
        clues = {
            s: gather_clues(s, traces, logs, patterns, changes)
            for s in sorted({t.change.service for t in found})
        }
        async with asyncio.TaskGroup() as tg:
            for t in found:
                tg.create_task(self._one(source, t, clues[t.change.service]))
        self.diffs.sort(key=lambda d: d.evidence_id)

    async def _one(self, source: ChangeSource, target: diffs.Target, clues: Clues) -> None:
        probe = Probe(
            target.evidence_id,
            EvidenceKind.DIFF,
            self.settings.git.provider,
            query=f"compare {target.repo} {target.base}...{target.head}",
            service=target.change.service,
        )
        t = target
        result = await self.rec.call(probe, lambda: source.compare(t.repo, t.base, t.head))
        if result is None:
            return
        diff = diffs.build_diff(target, result, clues)
        self.diffs.append(diff)
        self.rec.summarise(probe.id, diffs.describe(diff))
        self.rec.items[probe.id].link = diff.url
