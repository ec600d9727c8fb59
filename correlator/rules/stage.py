"""The rules stage as the pipeline calls it (satisfies ``correlator.pipeline.RulesStage``
structurally; rules never import the pipeline)."""

from __future__ import annotations

from pathlib import Path

from correlator.models import Analysis, EvidenceBundle, Investigation
from correlator.rules.loader import load_ruleset
from correlator.rules.ruleset import RuleSet
from correlator.rules.scoring import rank


class RankStage:
    """``await RankStage(ruleset)(inv, bundle) -> Analysis``; pure CPU, a few ms."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset

    @classmethod
    def from_directory(cls, directory: Path) -> RankStage:
        return cls(load_ruleset(directory))

    async def __call__(self, inv: Investigation, bundle: EvidenceBundle) -> Analysis:
        return rank(bundle, self.ruleset)
