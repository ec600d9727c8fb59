"""Slack interactivity: v0 signatures, replay protection, and the verdict buttons end to end.

Payload envelopes are upstream (``tests/fixtures/slack/interactions``, see SOURCES.md); the
Slack Web API is the real connector over ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from connectors.slack import SlackNotifier
from correlator.api import AppDeps
from correlator.api.slack_signing import ReplayGuard, check, signature
from correlator.settings import SlackSettings
from tests.api.conftest import AUTH, MakeClient, fixture_bytes

SLACK_FIXTURES = Path(__file__).parent.parent / "fixtures" / "slack"
SECRET = "test-signing-secret"
ENDPOINT = "/api/v1/slack/interactions"

# docs.slack.dev/authentication/verifying-requests-from-slack worked example (SOURCES.md)
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TS = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977008"
    b"85554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c4"
    b"47fce8b6703c"
)
DOC_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_signature_matches_slacks_worked_example() -> None:
    assert signature(DOC_SECRET, DOC_TS, DOC_BODY) == DOC_SIG
    assert check(DOC_SECRET, DOC_TS, DOC_SIG, DOC_BODY, now=float(DOC_TS) + 10) is None


def test_signature_rejects_wrong_secret_stale_time_and_tampering() -> None:
    now = float(DOC_TS)
    assert check("another-secret", DOC_TS, DOC_SIG, DOC_BODY, now=now) == "bad_signature"
    assert check(DOC_SECRET, DOC_TS, DOC_SIG, DOC_BODY + b"&x=1", now=now) == "bad_signature"
    assert check(DOC_SECRET, DOC_TS, DOC_SIG, DOC_BODY, now=now + 301) == "stale_timestamp"
    assert check(DOC_SECRET, DOC_TS, DOC_SIG, DOC_BODY, now=now - 301) == "stale_timestamp"
    assert check(DOC_SECRET, "", DOC_SIG, DOC_BODY, now=now) == "missing_or_malformed_headers"
    assert check(DOC_SECRET, DOC_TS, "v1=abc", DOC_BODY, now=now) == "missing_or_malformed_headers"


def test_replay_guard_remembers_within_the_window_only() -> None:
    guard = ReplayGuard(max_size=2)
    assert guard.first_time("v0=a", now=1000.0)
    assert not guard.first_time("v0=a", now=1100.0)
    assert guard.first_time("v0=a", now=1000.0 + 301 + 1)  # forgotten after five minutes


class FakeSlack:
    """Records Web API calls; answers with the upstream chat.update example."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.update_ok = json.loads(
            (SLACK_FIXTURES / "chat.update.response_ok.openapi-example.json").read_text()
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        self.calls.append((method, json.loads(request.content)))
        if method == "chat.update":
            return httpx.Response(200, json=self.update_ok)
        return httpx.Response(200, json={"ok": True})

    def of(self, method: str) -> list[dict[str, Any]]:
        return [body for m, body in self.calls if m == method]


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SLACK_FIXTURES / "interactions" / name).read_text())
    return data


def click(verdict: str, inv_id: str) -> dict[str, Any]:
    body = payload("block_actions.bolt-python.json")
    body["actions"][0].update(action_id=f"correlator_verdict_{verdict}", value=inv_id)
    return body


def signed(body: dict[str, Any], *, secret: str = SECRET, ts: int | None = None) -> dict[str, Any]:
    raw = f"payload={quote(json.dumps(body))}".encode()
    stamp = str(ts if ts is not None else int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature(secret, stamp, raw),
    }
    return {"content": raw, "headers": headers}


@pytest.fixture
async def slack_app(make_client: MakeClient) -> tuple[httpx.AsyncClient, FakeSlack]:
    fake = FakeSlack()
    slack = SlackSettings(bot_token="xoxb-test", signing_secret=SECRET)
    notifier = SlackNotifier.from_settings(slack, transport=httpx.MockTransport(fake.handler))
    deps = AppDeps(run_workers=False, run_scheduler=False, slack_actions=notifier)
    client = await make_client(deps=deps, slack=slack.model_dump())
    return client, fake


async def new_investigation(client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/api/v1/webhooks/alertmanager",
        content=fixture_bytes("alertmanager_webhook_01_firing.json"),
        headers=AUTH,
    )
    inv_id: str = r.json()["investigations"][0]["id"]
    return inv_id


async def test_correct_button_stores_the_verdict_and_updates_the_message(
    slack_app: tuple[httpx.AsyncClient, FakeSlack],
) -> None:
    client, fake = slack_app
    inv_id = await new_investigation(client)
    request = signed(click("correct", inv_id))
    assert (await client.post(ENDPOINT, **request)).status_code == 200
    got = (await client.get(f"/api/v1/investigations/{inv_id}")).json()
    last = got["feedback"][-1]
    assert (last["verdict"], last["by"], last["source"]) == ("correct", "primary-owner", "slack")
    (update,) = fake.of("chat.update")
    assert (update["channel"], update["ts"]) == ("C111", "111.222")
    texts = json.dumps(update["blocks"])
    assert "confirmed by primary-owner" in texts
    assert "correlator_verdict_wrong" in texts  # the buttons stay, a verdict can change
    replay = await client.post(ENDPOINT, **request)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["detail"]
    assert len(got["feedback"]) == 1
    assert len(fake.of("chat.update")) == 1


async def test_stale_or_wrongly_signed_requests_are_rejected(
    slack_app: tuple[httpx.AsyncClient, FakeSlack],
) -> None:
    client, fake = slack_app
    inv_id = await new_investigation(client)
    stale = signed(click("correct", inv_id), ts=int(time.time()) - 600)
    assert (await client.post(ENDPOINT, **stale)).status_code == 401
    forged = signed(click("correct", inv_id), secret="not-the-secret")
    assert (await client.post(ENDPOINT, **forged)).status_code == 401
    got = (await client.get(f"/api/v1/investigations/{inv_id}")).json()
    assert got["feedback"] == []
    assert fake.calls == []
    metrics = (await client.get("/metrics")).text
    assert 'correlator_slack_interactions_total{outcome="stale_timestamp"} 1.0' in metrics
    assert 'correlator_slack_interactions_total{outcome="bad_signature"} 1.0' in metrics


async def test_wrong_button_opens_the_modal_and_its_submission_records_the_cause(
    slack_app: tuple[httpx.AsyncClient, FakeSlack],
) -> None:
    client, fake = slack_app
    inv_id = await new_investigation(client)
    assert (await client.post(ENDPOINT, **signed(click("wrong", inv_id)))).status_code == 200
    (opened,) = fake.of("views.open")
    assert opened["trigger_id"] == "111.222.valid"
    modal = opened["view"]
    assert [b["block_id"] for b in modal["blocks"]] == ["service", "fault_type", "change", "note"]

    submit = payload("view_submission.bolt-python.json")
    submit["view"].update(
        callback_id=modal["callback_id"],
        private_metadata=modal["private_metadata"],
        state={
            "values": {
                "service": {"value": {"type": "plain_text_input", "value": "postgres"}},
                "fault_type": {
                    "value": {
                        "type": "static_select",
                        "selected_option": {
                            "text": {"type": "plain_text", "text": "database slow"},
                            "value": "database_slow",
                        },
                    }
                },
                "change": {"value": {"type": "plain_text_input", "value": "migration 42"}},
                "note": {"value": {"type": "plain_text_input", "value": "restored the index"}},
            }
        },
    )
    assert (await client.post(ENDPOINT, **signed(submit))).status_code == 200
    got = (await client.get(f"/api/v1/investigations/{inv_id}")).json()
    assert [f["verdict"] for f in got["feedback"]] == ["wrong", "wrong"]
    last = got["feedback"][-1]
    assert last["root_cause"] == {
        "service": "postgres",
        "fault_type": "database_slow",
        "change": "migration 42",
    }
    assert last["note"] == "restored the index"
    final = json.dumps(fake.of("chat.update")[-1]["blocks"])
    assert "marked wrong by primary-owner; real cause: postgres database slow" in final


async def test_endpoint_is_off_without_a_signing_secret(make_client: MakeClient) -> None:
    client = await make_client(deps=AppDeps(run_workers=False, run_scheduler=False))
    r = await client.post(ENDPOINT, **signed(click("correct", "x")))
    assert r.status_code == 404
