"""connectors/grafana.py: annotation tags and text are read by their meaning (issue #20 item 10).

Every item is the second ``ItemDTO`` of Grafana's own "Find Annotations" example response
(``tests/fixtures/grafana/annotations_find_response.docs.json``, verbatim from grafana/grafana
``docs/sources/developer-resources/api-reference/http-api/annotations.md`` at 6b65865d; see
``tests/fixtures/grafana/SOURCES.md``) with only ``tags``/``text`` replaced, plus the ``login`` /
``email`` fields a real ``ItemDTO`` carries (``pkg/services/annotations/models.go``).
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.grafana import parse_annotation
from correlator.models import Change, ChangeKind
from tests.connectors.support import fixture_json

MARKERS = ["deploy", "config", "flag"]  # the default grafana.annotation_tags


def _item(tags: list[str], text: str = "test") -> dict[str, Any]:
    item: dict[str, Any] = fixture_json("grafana", "annotations_find_response.docs.json")[1]
    item.update(tags=tags, text=text, login="ci-bot", email="ci-bot@example.com")
    return item


def _parse(tags: list[str], text: str = "test", markers: list[str] = MARKERS) -> Change:
    change = parse_annotation(_item(tags, text), markers)
    assert change is not None
    return change


def test_a_flag_marker_tag_is_a_feature_flag_change() -> None:
    c = _parse(["flag", "checkout"])
    assert c.kind is ChangeKind.FEATURE_FLAG
    assert c.service == "checkout"


def test_a_config_marker_tag_is_a_config_change() -> None:
    c = _parse(["config", "payments"])
    assert c.kind is ChangeKind.CONFIG
    assert c.service == "payments"


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("feature-flag", ChangeKind.FEATURE_FLAG),
        ("feature_flag", ChangeKind.FEATURE_FLAG),
        ("featureflag", ChangeKind.FEATURE_FLAG),
        ("configuration", ChangeKind.CONFIG),
        ("config-change", ChangeKind.CONFIG),
        ("rollback", ChangeKind.DEPLOY),
        ("deployment", ChangeKind.DEPLOY),
        ("release", ChangeKind.DEPLOY),
        ("rollout", ChangeKind.DEPLOY),
    ],
)
def test_bare_kind_words_set_the_kind_and_never_name_the_service(
    word: str, kind: ChangeKind
) -> None:
    c = _parse([word], markers=["deploy"])  # not configured markers: read by meaning alone
    assert c.kind is kind
    assert c.service == "unknown"


def test_a_specific_kind_tag_beats_the_generic_deploy_marker() -> None:
    assert _parse(["deploy", "feature-flag", "checkout"]).kind is ChangeKind.FEATURE_FLAG


def test_environment_service_and_version_are_told_apart() -> None:
    c = _parse(["deploy", "production", "cartservice", "v2.3.1"])
    assert (c.kind, c.service, c.environment, c.to_version) == (
        ChangeKind.DEPLOY,
        "cartservice",
        "production",
        "v2.3.1",
    )


def test_only_an_environment_and_a_tool_leave_the_service_unknown() -> None:
    c = _parse(["deploy", "prod", "helm"])
    assert c.service == "unknown"
    assert c.environment == "prod"


@pytest.mark.parametrize(
    "noise",
    [
        ["staging", "argocd", "1.4.2"],
        ["eu-west-1", "ci", "automated"],
        ["us-central1", "github-actions", "k8s"],
        ["dev", "jenkins", "manual", "terraform"],
        ["9f1c2ab", "spinnaker", "kubernetes", "cd"],
        ["20261123", "argo"],
    ],
)
def test_no_service_is_invented_from_meaningful_words(noise: list[str]) -> None:
    assert _parse(["deploy", *noise]).service == "unknown"


def test_region_and_commit_tags_fill_their_fields() -> None:
    c = _parse(["deploy", "eu-west-1", "9F1C2AB", "inventory", "1.4.2"])
    assert (c.service, c.environment, c.to_commit, c.to_version) == (
        "inventory",
        "eu-west-1",
        "9f1c2ab",
        "1.4.2",
    )


def test_a_candidate_named_in_the_text_is_preferred() -> None:
    c = _parse(["deploy", "team-payments", "checkout"], "Deploy checkout 1.2.0 by the pipeline")
    assert c.service == "checkout"
    assert _parse(["deploy", "team-payments", "checkout"]).service == "team-payments"


def test_explicit_pairs_still_win_over_bare_tags() -> None:
    c = _parse(["deploy", "service:cart", "env:staging", "production", "checkout", "v9.9.9"])
    assert (c.service, c.environment, c.to_version) == ("cart", "staging", "v9.9.9")


def test_a_kind_pair_beats_a_bare_kind_tag() -> None:
    c = _parse(["flag", "kind:config", "prod", "payments"], "enabled flag newCheckout")
    assert c.kind is ChangeKind.CONFIG
    assert c.flag_key is None
    assert (c.service, c.environment) == ("payments", "prod")
    assert _parse(["config", "kind=rollback", "payments"]).kind is ChangeKind.DEPLOY


def test_text_only_rollback_fills_from_and_to_versions() -> None:
    c = _parse(["changes", "checkout"], "Rolled back checkout from 2.5.0 to 2.4.1", ["changes"])
    assert c.kind is ChangeKind.DEPLOY
    assert (c.from_version, c.to_version) == ("2.5.0", "2.4.1")
    assert c.service == "checkout"


def test_text_only_rollback_of_commits_takes_the_target_as_the_commit() -> None:
    c = _parse(["changes", "cart"], "rollback cart from 4f2d9e1c to 0b5e8c3a", ["changes"])
    assert (c.from_commit, c.to_commit) == ("4f2d9e1c", "0b5e8c3a")
    back = _parse(["changes", "cart"], "Rolling back cart to v1.9.3 after errors", ["changes"])
    assert (back.from_version, back.to_version) == (None, "v1.9.3")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Enabled flag cartFailure for 10% of users", "cartFailure"),
        ("flag paymentServiceFailure turned on", "paymentServiceFailure"),
        ("Feature flag adServiceHighCpu at 50%", "adServiceHighCpu"),
        ("Feature flag change for checkout", None),
    ],
)
def test_text_only_flag_flips(text: str, key: str | None) -> None:
    c = _parse(["changes", "checkout"], text, ["changes"])
    assert c.kind is ChangeKind.FEATURE_FLAG
    assert c.flag_key == key


@pytest.mark.parametrize(
    "text",
    ["Config change: pool size 50 -> 2", "configmap cart-env updated", "Updated config for cart"],
)
def test_text_only_config_changes(text: str) -> None:
    assert _parse(["changes", "cart"], text, ["changes"]).kind is ChangeKind.CONFIG


def test_tags_win_over_text() -> None:
    deploy = _parse(["deploy", "cart"], "Deploy cart 2.0.1 (updated config loader, flag X on)")
    assert deploy.kind is ChangeKind.DEPLOY
    cfg = _parse(["config", "cart"], "Rolled back cart timeout from 1.5 to 0.25")
    assert cfg.kind is ChangeKind.CONFIG
    assert (cfg.from_version, cfg.to_version) == (None, None)  # numbers of a config, not versions


def test_a_dsn_in_the_text_still_names_no_service() -> None:
    c = _parse(["deploy", "prod"], "migrated with postgres://app:Sup3rS3cret@db-primary:5432/shop")
    assert c.service == "unknown"
