"""Deterministic correlation: rules/*.yaml + signals over the evidence bundle -> ranked hypotheses.

Public API::

    load_ruleset(directory: Path) -> RuleSet
    rank(bundle: EvidenceBundle, ruleset: RuleSet) -> Analysis
    RuleSet.metric_queries(alert: Alert, services: Iterable[str]) -> list[MetricQuery]
    check_directory(directory: Path) -> tuple[RuleSet | None, list[Problem]]
    RankStage(ruleset) / RankStage.from_directory(path): the pipeline's RulesStage
"""

from correlator.rules.loader import Problem, RulesError, check_directory, load_ruleset
from correlator.rules.ruleset import RuleSet
from correlator.rules.scoring import rank
from correlator.rules.stage import RankStage

__all__ = [
    "Problem",
    "RankStage",
    "RuleSet",
    "RulesError",
    "check_directory",
    "load_ruleset",
    "rank",
]
