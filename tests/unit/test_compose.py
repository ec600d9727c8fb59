"""Static checks of the user-facing compose stack (there is no Docker engine in CI).

Parses docker-compose.yml, the Dockerfile and the configs under deploy/ and checks that they
fit together: images pinned, ports unique, healthchecks behind every ``service_healthy``,
every bind-mounted file present, correlator's env names real Settings fields (and loadable),
the webhook token shared by Alertmanager and correlator, the Grafana datasource links.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from correlator.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default (or empty)."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: _interpolate(str(v)) for k, v in env.items()}


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if source.startswith(("./", "../", "/")):
            mounts.append((source, target))
    return mounts


def test_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if "build" in svc:
            continue
        image = svc["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag, f"{name}: unpinned image {image}"
        assert tag != "latest", f"{name}: unpinned image {image}"
        assert "$" not in tag, f"{name}: image tag from a variable {image}"


def test_published_ports_are_unique(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            host = str(port).split(":")[-2] if ":" in str(port) else str(port)
            assert host not in seen, f"port {host} published by {seen.get(host)} and {name}"
            seen[host] = name
    assert {"8080", "9090", "9093", "3000", "3100", "3200", "8000"} <= set(seen)


def test_depends_on_targets_exist_and_are_healthchecked(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert spec["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}: no healthcheck"


def test_depends_on_has_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    state: dict[str, str] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert state.get(node) != "active", f"dependency cycle: {' -> '.join((*path, node))}"
        if state.get(node) == "done":
            return
        state[node] = "active"
        for dep in services[node].get("depends_on") or {}:
            visit(dep, (*path, node))
        state[node] = "done"

    for name in services:
        visit(name, ())


def test_every_bind_mounted_path_exists(services: dict[str, dict[str, Any]]) -> None:
    mounts = [(n, s, t) for n, svc in services.items() for s, t in _bind_mounts(svc)]
    assert len(mounts) >= 10
    for name, source, _target in mounts:
        assert (ROOT / source).resolve().exists(), f"{name}: {source} does not exist"


def test_correlator_mounts_rules_and_prompts_read_only(
    services: dict[str, dict[str, Any]],
) -> None:
    svc = services["correlator"]
    assert svc["build"]["context"] == "."
    volumes = {v.split(":")[0]: v for v in svc["volumes"]}
    env = _env(svc)
    for name in ("rules", "prompts"):
        spec = volumes[f"./{name}"]
        assert spec.endswith(":ro"), spec
        assert env[f"CORRELATOR_{name.upper()}_DIR"] == spec.split(":")[1]


def _field_path_exists(model: type[BaseModel], parts: list[str]) -> bool:
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1:
        return True
    sub = field.annotation
    return (
        isinstance(sub, type) and issubclass(sub, BaseModel) and _field_path_exists(sub, parts[1:])
    )


def test_correlator_env_names_are_settings_fields(services: dict[str, dict[str, Any]]) -> None:
    env = _env(services["correlator"])
    names = [k for k in env if k.startswith("CORRELATOR_")]
    assert "CORRELATOR_WEBHOOK_TOKEN" in names
    assert "CORRELATOR_LLM__MODEL" in names
    for name in names:
        parts = name.removeprefix("CORRELATOR_").lower().split("__")
        assert _field_path_exists(Settings, parts), f"{name} is not a Settings field"


def test_correlator_env_loads_into_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CORRELATOR_"):
            monkeypatch.delenv(key)
    for key, value in _env(services["correlator"]).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.prometheus.url == "http://prometheus:9090"
    assert settings.tempo.url == "http://tempo:3200"
    assert settings.loki.url == "http://loki:3100"
    assert settings.prometheus.external_labels == ["cluster"]
    assert settings.webhook_token is not None
    assert settings.llm.model == ""  # rules only unless the llm profile sets a model
    assert settings.llm.api_base == "http://ollama:11434"


def test_external_labels_match_what_correlator_strips(
    services: dict[str, dict[str, Any]],
) -> None:
    prom = _load(ROOT / "deploy/prometheus/prometheus.yml")
    external = sorted(prom["global"].get("external_labels", {}))
    configured = yaml.safe_load(
        _env(services["correlator"])["CORRELATOR_PROMETHEUS__EXTERNAL_LABELS"]
    )
    assert sorted(configured) == external


def test_webhook_token_is_shared_by_alertmanager_and_correlator(
    services: dict[str, dict[str, Any]],
) -> None:
    am = _load(ROOT / "deploy/alertmanager/alertmanager.yml")
    hooks = [h for r in am["receivers"] for h in r.get("webhook_configs", [])]
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook["url"] == "http://correlator:8080/api/v1/webhooks/alertmanager"
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    mounts = {t: s for s, t in _bind_mounts(services["alertmanager"])}
    token = (ROOT / mounts[auth["credentials_file"]]).read_text().strip()
    assert token == _env(services["correlator"])["CORRELATOR_WEBHOOK_TOKEN"]
    assert token == _env(services["checkout-api"])["DEMO_CORRELATOR_TOKEN"]


def test_prometheus_targets_are_compose_services(services: dict[str, dict[str, Any]]) -> None:
    prom = _load(ROOT / "deploy/prometheus/prometheus.yml")
    targets = [
        t
        for job in prom["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    ]
    targets += [
        t
        for am in prom["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    for target in targets:
        host = target.split(":")[0]
        assert host == "localhost" or host in services, target
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]


def test_grafana_datasources_link_exemplars_traces_and_logs() -> None:
    doc = _load(ROOT / "deploy/grafana/provisioning/datasources/datasources.yaml")
    by_type = {d["type"]: d for d in doc["datasources"]}
    uids = {d["uid"] for d in doc["datasources"]}
    defaults = Settings().grafana
    assert by_type["prometheus"]["uid"] == defaults.prometheus_datasource_uid
    assert by_type["tempo"]["uid"] == defaults.tempo_datasource_uid
    assert by_type["loki"]["uid"] == defaults.loki_datasource_uid
    dest = by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": by_type["tempo"]["uid"]} in dest
    t2l = by_type["tempo"]["jsonData"]["tracesToLogsV2"]
    assert t2l["datasourceUid"] == by_type["loki"]["uid"]
    assert "trace_id=" in t2l["query"]
    assert "$${__trace.traceId}" in t2l["query"]
    for ds in doc["datasources"]:
        for link in ds["jsonData"].get("derivedFields", []):
            assert link["datasourceUid"] in uids


def test_llm_profile_has_a_model_server(services: dict[str, dict[str, Any]]) -> None:
    llm = [n for n, s in services.items() if "llm" in (s.get("profiles") or [])]
    assert "ollama" in llm
    assert "profiles" not in services["correlator"]
    api_base = _env(services["correlator"])["CORRELATOR_LLM__API_BASE"]
    assert api_base.split("//")[1].split(":")[0] in llm


def test_dockerfile_runs_correlator_as_non_root_with_a_readiness_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms
    assert all(f == "python:3.11-slim" for f in froms)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users
    assert users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", text, re.M)
    assert '"serve", "--host", "0.0.0.0"' in text
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("correlator", "connectors", "rules", "prompts", "pyproject.toml"):
        assert needed not in ignored
