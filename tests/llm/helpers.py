"""Shared replies and helpers of the LLM integration tests."""

from __future__ import annotations

from typing import Any

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply, schema_name
from tests.llm.bundles import TRACE_ID

TRACE = f"trace:{TRACE_ID}"
DEPLOY = "deploy:payment:1.5.0"
RANK = {
    "hypotheses": [
        {
            "service": "payment",
            "fault_type": "deploy_regression",
            "statement": "payment 1.5.0 breaks charges",
            "confidence": 0.9,
            "evidence_ids": [DEPLOY, "bogus:1", TRACE],
        },
        {
            "service": "dns",
            "fault_type": "network_loss",
            "statement": "dns is down",
            "confidence": 0.95,
            "evidence_ids": ["made-up:42"],
        },
    ]
}
REMEDIATE = {
    "kind": "rollback",
    "summary": "roll back payment to 1.4.2",
    "commands": ["kubectl rollout undo deployment/payment"],
    "target_version": "1.4.2",
    "target_commit": "9f3c2ab",
    "risk": "low: 1.4.2 ran for a week",
    "verify": "checkout 5xx ratio below 1%",
}
DIGEST = {"facts": [{"statement": "payment errors start at onset", "evidence_ids": [TRACE]}]}


def good(body: dict[str, Any]) -> Reply:
    name = schema_name(body)
    return Reply.json({"digest": DIGEST, "remediate": REMEDIATE}.get(name, RANK))


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def stages(out: Any) -> dict[str, Any]:
    return {s.stage: s for s in out.report.stages}


def sent(server: FakeOpenAI, name: str) -> list[dict[str, Any]]:
    return [b for b in server.bodies() if schema_name(b) == name]
