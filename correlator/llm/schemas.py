"""Output schemas of the LLM stages, sent as ``response_format`` and validated on every reply.

A reply that is not JSON or violates its schema gets one repair attempt (``repair_message``);
after that the stage falls back to the rules result. Citation checks (ids must exist in the
bundle) happen in ``stages``, not here: a well-formed reply can still cite nothing real.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from correlator.models import FaultType, RemediationKind


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Fact(_Out):
    statement: str = Field(max_length=600)
    evidence_ids: list[str] = Field(default_factory=list, max_length=20)
    service: str | None = Field(default=None, max_length=200)


class DigestOut(_Out):
    facts: list[Fact] = Field(default_factory=list, max_length=20)


class RankedHypothesis(_Out):
    service: str = Field(max_length=200)
    fault_type: FaultType
    statement: str = Field(max_length=800)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence_ids: list[str] = Field(default_factory=list, max_length=20)


class RankOut(_Out):
    no_fault: bool = False
    hypotheses: list[RankedHypothesis] = Field(default_factory=list, max_length=5)


class RemediateOut(_Out):
    kind: RemediationKind
    summary: str = Field(max_length=800)
    commands: list[str] = Field(default_factory=list, max_length=10)
    target_version: str | None = Field(default=None, max_length=256)
    target_commit: str | None = Field(default=None, max_length=128)
    risk: str = Field(default="", max_length=600)
    verify: str = Field(default="", max_length=600)
    evidence_ids: list[str] = Field(default_factory=list, max_length=20)


SCHEMAS: dict[str, type[_Out]] = {
    "digest": DigestOut,
    "rank": RankOut,
    "remediate": RemediateOut,
    "naive": RankOut,
}

T = TypeVar("T", bound=BaseModel)


class SchemaViolation(ValueError):
    """The reply is not JSON, or not the stage's schema."""


def response_format(stage: str) -> dict[str, Any]:
    """The OpenAI ``response_format`` for a stage (litellm forwards/translates it)."""
    model = SCHEMAS[stage]
    return {
        "type": "json_schema",
        "json_schema": {"name": stage, "schema": model.model_json_schema(), "strict": False},
    }


def schema_text(stage: str) -> str:
    return json.dumps(SCHEMAS[stage].model_json_schema(), separators=(",", ":"))


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def parse(model: type[T], text: str) -> T:
    """Parse a reply into ``model``; tolerate a Markdown code fence around the JSON."""
    m = _FENCE.match(text)
    body = m.group(1) if m else text.strip()
    if not body:
        raise SchemaViolation("empty reply")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise SchemaViolation(f"not JSON: {e.msg} at {e.pos}") from e
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:5])
        raise SchemaViolation(errs) from e
