"""Root-cause hypotheses and remediation proposals (never executed, only proposed)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class FaultType(StrEnum):
    CODE_ERROR = "code_error"
    DEPLOY_REGRESSION = "deploy_regression"
    CONFIG_CHANGE = "config_change"
    FEATURE_FLAG = "feature_flag"
    DEPENDENCY_DOWN = "dependency_down"
    DATABASE_SLOW = "database_slow"
    RESOURCE_CPU = "resource_cpu"
    RESOURCE_MEMORY = "resource_memory"
    RESOURCE_DISK = "resource_disk"
    NETWORK_DELAY = "network_delay"
    NETWORK_LOSS = "network_loss"
    TRAFFIC_SURGE = "traffic_surge"
    NONE = "none"


class RemediationKind(StrEnum):
    ROLLBACK = "rollback"
    DISABLE_FLAG = "disable_flag"
    REVERT_CONFIG = "revert_config"
    SCALE = "scale"
    RESTART = "restart"
    FIX = "fix"
    INVESTIGATE = "investigate"
    NONE = "none"


class Remediation(BaseModel):
    kind: RemediationKind
    summary: str
    commands: list[str] = Field(default_factory=list, description="rendered, never executed")
    target_version: str | None = None
    target_commit: str | None = None
    compare_url: str | None = None
    risk: str = ""
    verify: str = Field(default="", description="the metric/query that should recover")
    proposed: Literal[True] = True
    source: Literal["rules", "llm"] = "rules"


class SuspectChange(BaseModel):
    evidence_id: str
    kind: str
    service: str
    summary: str
    version: str | None = None
    commit: str | None = None
    diff_id: str | None = Field(default=None, description="the change's compare evidence id")
    hunk: str | None = Field(
        default=None, description="top hunk: '7a3f9c2 orders/history.go +12: SELECT ...'"
    )
    compare_url: str | None = Field(default=None, description="compare view (configured host)")


class Hypothesis(BaseModel):
    service: str
    fault_type: FaultType
    statement: str
    confidence: float = Field(ge=0.0, le=1.0)
    scores: dict[str, float] = Field(default_factory=dict, description="signal -> contribution")
    evidence_ids: list[str] = Field(default_factory=list)
    suspect_change: SuspectChange | None = None
    remediation: Remediation | None = None
    source: Literal["rules", "llm"] = "rules"
    less_likely: str | None = Field(
        default=None, description="for a runner-up: why it ranks below the top hypothesis"
    )


class InsufficientEvidence(BaseModel):
    missing: list[str] = Field(default_factory=list)
    next_queries: list[str] = Field(default_factory=list)


class Analysis(BaseModel):
    """The ranked outcome of rules (and later LLM) for one bundle."""

    hypotheses: list[Hypothesis] = Field(default_factory=list)
    no_fault: bool = False
    inconclusive: bool = Field(
        default=False, description="suspects exist but none is strong; see next queries"
    )
    insufficient: InsufficientEvidence | None = None
    rules_applied: list[str] = Field(default_factory=list)

    @property
    def top(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None
