"""connectors/grafana.py: annotations -> Change, through httpx.MockTransport."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors._http import BackendClient
from connectors.grafana import GrafanaAnnotations, parse_annotation
from correlator.errors import BackendBadResponse, BackendRejected
from correlator.models import ChangeKind, TimeWindow
from correlator.settings import GrafanaSettings
from tests.connectors.support import FakeTime, fixture_bytes, fixture_json

WINDOW = TimeWindow(
    start=datetime(2017, 10, 6, 4, 0, tzinfo=UTC), end=datetime(2017, 10, 6, 6, 0, tzinfo=UTC)
)


class Grafana:
    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body = body
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            self.status, content=self.body, headers={"content-type": "application/json"}
        )


def source(grafana: Grafana, fake_time: FakeTime) -> GrafanaAnnotations:
    cfg = GrafanaSettings(url="http://grafana.test", retries=0)
    client = httpx.AsyncClient(
        base_url="http://grafana.test", transport=httpx.MockTransport(grafana)
    )
    http = BackendClient("grafana", client, cfg, clock=fake_time.clock, sleep=fake_time.sleep)
    return GrafanaAnnotations(client, cfg, http=http)


async def test_docs_example_response(fake_time: FakeTime) -> None:
    grafana = Grafana(fixture_bytes("grafana", "annotations_find_response.docs.json"))
    changes = await source(grafana, fake_time).deploy_annotations(WINDOW, ["deploy"])
    assert [c.time for c in changes] == [
        datetime.fromtimestamp(1507265111, tz=UTC),
        datetime.fromtimestamp(1507266395, tz=UTC),
    ]
    first = changes[0]
    assert first.kind is ChangeKind.DEPLOY
    assert first.source == "grafana"
    assert first.service == "tag1"  # first plain tag that is not a marker tag
    assert first.description == "test"
    assert first.evidence_id == "change:grafana:1123"


async def test_request_uses_milliseconds_and_tag_semantics(fake_time: FakeTime) -> None:
    grafana = Grafana(b"[]")
    src = source(grafana, fake_time)
    assert await src.deploy_annotations(WINDOW, ["deploy"]) == []
    params = grafana.requests[0].url.params
    assert grafana.requests[0].url.path == "/api/annotations"
    assert params["from"] == str(int(WINDOW.start.timestamp() * 1000))
    assert params["to"] == str(int(WINDOW.end.timestamp() * 1000) + 1)
    assert params.get_list("tags") == ["deploy"]
    assert params["type"] == "annotation"
    assert "matchAny" not in params
    await src.deploy_annotations(WINDOW, ["deploy", "release"])
    params = grafana.requests[1].url.params
    assert params.get_list("tags") == ["deploy", "release"]
    assert params["matchAny"] == "true"


def _item(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = fixture_json("grafana", "annotations_find_response.docs.json")[1]
    item.update(over)
    return item


def test_key_value_tags() -> None:
    c = parse_annotation(
        _item(tags=["deploy", "service:cart", "version=1.4.2", "commit:9f1c2ab", "env:prod"]),
        ["deploy"],
    )
    assert c is not None
    assert (c.service, c.to_version, c.to_commit, c.environment) == (
        "cart",
        "1.4.2",
        "9f1c2ab",
        "prod",
    )


def test_fields_from_text_and_tags_win() -> None:
    text = (
        'Deployed <a href="https://evil.example/x">service=checkout</a> version: 2.0.1, sha=abc1234'
    )
    c = parse_annotation(_item(text=text, tags=["deploy", "version:2.0.2"]), ["deploy"])
    assert c is not None
    assert c.service == "checkout"
    assert c.to_version == "2.0.2"
    assert c.to_commit == "abc1234"
    assert c.url is None
    assert c.description is not None
    assert "evil.example" not in c.description


def test_bare_commit_in_text_and_numbers_are_not_commits() -> None:
    c = parse_annotation(
        _item(text="rollout of 4f2d9e1c to prod", tags=["Deploy", "payments"]), ["deploy"]
    )
    assert c is not None
    assert c.to_commit == "4f2d9e1c"
    assert c.service == "payments"  # the first plain tag that is not a marker tag
    build = parse_annotation(_item(text="build 20261123 done", tags=[]))
    assert build is not None
    assert build.to_commit is None
    assert build.service == "unknown"


def test_kinds_and_omitted_fields() -> None:
    flag = parse_annotation({"time": 1507265111000, "tags": ["flag:cartFailure", "svc:cart"]})
    assert flag is not None
    assert flag.kind is ChangeKind.FEATURE_FLAG
    assert flag.flag_key == "cartFailure"
    cfg = parse_annotation({"time": 1507265111000, "tags": ["kind:config"], "login": "ci"})
    assert cfg is not None
    assert cfg.kind is ChangeKind.CONFIG
    assert cfg.author == "ci"
    assert parse_annotation({"text": "no time"}) is None
    assert parse_annotation({"time": "yesterday"}) is None


async def test_non_list_body_is_bad_response(fake_time: FakeTime) -> None:
    grafana = Grafana(json.dumps({"message": "Unauthorized"}).encode())
    with pytest.raises(BackendBadResponse):
        await source(grafana, fake_time).deploy_annotations(WINDOW, ["deploy"])


async def test_401_is_rejected(fake_time: FakeTime) -> None:
    grafana = Grafana(json.dumps({"message": "invalid API key"}).encode(), status=401)
    with pytest.raises(BackendRejected, match="invalid API key"):
        await source(grafana, fake_time).deploy_annotations(WINDOW, ["deploy"])


def test_a_dsn_in_the_text_is_not_parsed_as_a_service() -> None:
    """D3: ``postgres://app:<pw>@db-primary`` in an annotation made the password the change's
    service (and so part of the evidence id sent to the LLM)."""
    text = "migrated with postgres://app:Sup3rS3cret@db-primary:5432/shop, service=orders"
    c = parse_annotation(_item(text=text, tags=["deploy"]), ["deploy"])
    assert c is not None
    assert c.service == "orders"
    assert "Sup3rS3cret" not in c.service
    bare = parse_annotation(_item(text="db postgres://app:Sup3rS3cret@db-primary", tags=[]))
    assert bare is not None
    assert "Sup3rS3cret" not in bare.service
