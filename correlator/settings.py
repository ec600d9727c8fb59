"""Settings: pydantic-settings, env prefix ``CORRELATOR_``, nested delimiter ``__``.

Built once in the entry point (``load_settings``) and passed down; never a module global.
Precedence: explicit arguments > environment > YAML file (``--config`` / ``CORRELATOR_CONFIG``)
> defaults. Every field is documented in docs/configuration.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _data_dir(name: str) -> Path:
    """rules/ and prompts/ next to the package (checkout or installed wheel)."""
    return PACKAGE_ROOT / name


# Alert labels that name the alert's service, first present wins (``prometheus.service_labels``).
SERVICE_LABELS = ("service", "service_name", "app", "k8s_deployment_name", "deployment", "job")


class BackendSettings(BaseModel):
    """HTTP policy shared by every backend (see connectors/_http.py)."""

    url: str | None = None
    public_url: str | None = Field(
        default=None, description="base URL for deep links shown to humans (default: url)"
    )
    connect_timeout_seconds: float = 2.0
    timeout_seconds: float = 5.0
    retries: int = Field(default=2, ge=0, le=10)
    max_concurrency: int = Field(default=16, ge=1)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = 30.0
    bearer_token: SecretStr | None = None
    basic_user: str | None = None
    basic_password: SecretStr | None = None
    tenant: str | None = Field(default=None, description="X-Scope-OrgID for Tempo/Loki/Mimir")
    past_query_cache_seconds: float = Field(
        default=30.0,
        ge=0.0,
        description=(
            "range queries (metrics, exemplars, logs, trace search) whose range ended over a"
            " minute ago are cached this long, shared by concurrent investigations (0 = off)"
        ),
    )

    @property
    def link_base(self) -> str | None:
        return self.public_url or self.url


class PrometheusSettings(BackendSettings):
    exemplar_lookback_seconds: float = 900.0
    exemplar_grace_seconds: float = 120.0
    max_exemplars: int = Field(default=5, ge=1, le=50)
    external_labels: list[str] = Field(
        default_factory=list, description="Alertmanager external_labels to strip from selectors"
    )
    trace_id_labels: list[str] = Field(default_factory=lambda: ["trace_id", "traceID", "traceId"])
    service_labels: list[str] = Field(
        default_factory=lambda: list(SERVICE_LABELS),
        description="alert labels naming the alert's service, first present wins",
    )
    version_queries: list[str] = Field(
        default_factory=lambda: [
            "count by (job, service, service_name, version, service_version, revision, commit)"
            " (build_info)",
            "count by (job, service_name, service_version) (target_info)",
        ],
        description="query_range-ed to infer version changes (version or service_version label)",
    )
    discover_series: bool = Field(
        default=True,
        description="ask /api/v1/series which metric families exist for the implicated "
        "workloads and run only the rules' templates that can answer (docs/evidence.md)",
    )


class TempoSettings(BackendSettings):
    search_limit: int = 5
    search_template: str = Field(
        default='{{ resource.service.name = "{service}" && (status = error || duration > 500ms) }}',
        description="TraceQL fallback when there are no exemplars; {service} is escaped",
    )
    baseline_template: str = Field(
        default='{{ resource.service.name = "{service}" }}',
        description="TraceQL for pre-onset baseline traces (version comparison)",
    )
    baseline_traces: int = Field(default=2, ge=0, le=10)


class LokiSettings(BackendSettings):
    service_labels: list[str] = Field(
        default_factory=lambda: ["service_name", "service", "app", "job"]
    )
    trace_logs_template: str = Field(
        default='{{{selector}}} | trace_id="{trace_id}"',
        description="LogQL for trace-to-logs; {selector} and {trace_id} are filled, escaped",
    )
    categorize_labels: bool = True
    error_filter: str = Field(default='|~ "(?i)(error|exception|fatal|panic|fail)"')
    line_limit: int = 1000
    pattern_before_seconds: float = Field(default=900.0, description="error lines before onset")
    pattern_after_seconds: float = Field(default=300.0, description="error lines after onset")


class GrafanaSettings(BackendSettings):
    annotation_tags: list[str] = Field(
        default_factory=lambda: ["deploy", "config", "flag"],
        description="annotations with ANY of these tags are change markers (matchAny)",
    )
    prometheus_datasource_uid: str = "prometheus"
    tempo_datasource_uid: str = "tempo"
    loki_datasource_uid: str = "loki"


class AlertmanagerSettings(BackendSettings):
    reconcile_interval_seconds: float = 60.0
    receiver: str | None = Field(
        default=None,
        description="reconcile only alerts routed to this receiver (correlator's receiver name)",
    )


GIT_API_DEFAULTS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}


class GitSettings(BackendSettings):
    """A read-only Git provider for the suspect change's diff (connectors/github.py, gitlab.py).

    Off unless ``api_url`` (or the generic ``url``) or ``repos`` is set; ``token`` (or the
    generic ``bearer_token``) is sent as ``Authorization: Bearer``. ``repos`` maps a service to
    ``owner/repo`` (GitHub) or a project id or ``group/project`` path (GitLab); a service not
    in it may still be resolved from its spans' ``vcs.repository.url.full`` when that URL's
    host is the provider's web host (``web_url``). URLs found in payloads are never fetched.
    """

    provider: Literal["github", "gitlab"] = Field(
        default="github", description="github (also GitHub Enterprise Server) or gitlab"
    )
    api_url: str | None = Field(
        default=None,
        description="REST API base: https://api.github.com, https://ghe.example.com/api/v3, "
        "https://gitlab.example.com/api/v4 (default: the provider's public API when repos is set)",
    )
    web_url: str | None = Field(
        default=None,
        description="web host for compare links and vcs.repository.url.full matching "
        "(default: derived from api_url)",
    )
    token: SecretStr | None = Field(default=None, description="read-only token (sent as Bearer)")
    repos: dict[str, str] = Field(
        default_factory=dict, description='service -> repository, e.g. {"checkout-api": "shop/c"}'
    )
    max_compares: int = Field(default=3, ge=1, le=10, description="changes diffed per alert")
    max_commit_pages: int = Field(default=3, ge=1, le=20, description="GitHub pages of 100")

    @property
    def enabled(self) -> bool:
        return bool(self.api_url or self.url or self.repos)

    def backend(self) -> BackendSettings:
        """The shared HTTP policy settings of this provider (base URL and token filled in)."""
        url = self.api_url or self.url or GIT_API_DEFAULTS[self.provider]
        fields = {k: getattr(self, k) for k in BackendSettings.model_fields}
        fields.update(url=url.rstrip("/"), bearer_token=self.token or self.bearer_token)
        return BackendSettings(**fields)


class LLMStageSettings(BaseModel):
    model: str | None = None
    max_input_tokens: int = 6000
    max_output_tokens: int = 800
    timeout_seconds: float = 30.0
    concurrency: int = 4
    rpm: float = Field(default=0.0, ge=0.0, description="requests/minute per model; 0 = unlimited")


class LLMSettings(BaseModel):
    model: str = Field(default="", description="empty = rules only")
    api_base: str | None = None
    api_key: SecretStr | None = None
    fallback_models: list[str] = Field(default_factory=list)
    deadline_seconds: float = 60.0
    digest: LLMStageSettings = Field(default_factory=LLMStageSettings)
    rank: LLMStageSettings = Field(default_factory=LLMStageSettings)
    remediate: LLMStageSettings = Field(default_factory=LLMStageSettings)
    retries: int = 2
    breaker_failures: int = 3
    breaker_reset_seconds: float = 60.0
    redact_emails: bool = False
    cache: bool = True
    batch_concurrency_factor: int = Field(
        default=2, ge=1, description="batch mode (replay/eval/bench) multiplies stage concurrency"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.model)


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    channel: str | None = None
    api_url: str = "https://slack.com/api"
    webhook_url: SecretStr | None = Field(default=None, description="incoming-webhook mode")
    routes: dict[str, str] = Field(
        default_factory=dict, description='label matcher -> channel, e.g. {"team=payments": "#pay"}'
    )
    signing_secret: SecretStr | None = Field(
        default=None,
        description="Slack app signing secret: enables the verdict buttons and "
        "POST /api/v1/slack/interactions (docs/feedback.md)",
    )


class PagerDutySettings(BaseModel):
    routing_key: SecretStr | None = None
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    mode: Literal["events", "notes"] = "events"
    api_url: str = "https://api.pagerduty.com"
    api_token: SecretStr | None = None
    from_email: str | None = None


class WebhookNotifierSettings(BaseModel):
    url: str | None = None
    bearer_token: SecretStr | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CORRELATOR_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    database_url: str = "sqlite+aiosqlite:///./correlator.db"
    webhook_token: SecretStr | None = None
    ui_token: SecretStr | None = Field(
        default=None, description="required for the UI/API when not on loopback"
    )
    public_url: str = Field(default="http://127.0.0.1:8080", description="links to our own UI")
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values accepted (JSON list, '*' = any); empty: loopback names "
        "when host is a loopback address, else any",
    )
    workers: int = Field(default=4, ge=1, le=256)
    worker_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "`serve` runs the workers in this many separate processes sharing the store, so"
            " webhook intake never waits for investigation CPU; 0 = workers inside the HTTP"
            " process (`serve --worker-processes N` overrides)"
        ),
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU niceness added to worker processes (intake keeps the CPU first)",
    )
    grouping: Literal["alertmanager", "alert"] = Field(
        default="alertmanager",
        description=(
            "`alertmanager`: one investigation (and one note) per Alertmanager group"
            " (receiver + groupKey); `alert`: one per alert (fingerprint + startsAt)"
        ),
    )
    group_debounce_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=3600.0,
        description=(
            "a group whose new alerts widen the evidence scope (new service or expression)"
            " re-runs once no further widening arrived for this long"
        ),
    )
    queue_depth_warn: int = Field(default=1000, ge=1)
    retention_days: int = Field(default=30, ge=1)
    feedback_token: SecretStr | None = Field(
        default=None,
        description="bearer token accepted by the feedback endpoint (besides the UI token)",
    )
    memory_window_days: int = Field(
        default=30, ge=1, description="how far back similar past incidents are recalled"
    )
    stuck_after_seconds: float = 300.0
    evidence_deadline_seconds: float = 10.0
    change_lookback_seconds: float = Field(
        default=7200.0, description="how far before onset deploys and version changes are read"
    )
    body_limit_bytes: int = 1024 * 1024
    request_read_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="time to receive a request body once its headers arrived; 408 after (D11)",
    )
    http_limit_concurrency: int = Field(
        default=1000,
        ge=1,
        description="connections and requests `serve` handles at once; beyond, 503 (D11)",
    )
    http_keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="idle keep-alive connections are closed after this"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR")
    rules_dir: Path = Field(default_factory=lambda: _data_dir("rules"))
    prompts_dir: Path = Field(default_factory=lambda: _data_dir("prompts"))
    repo_url_template: str | None = Field(
        default=None,
        description="e.g. https://git.example.com/org/{service}/compare/{from_commit}...{to_commit}",
    )
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    tempo: TempoSettings = Field(default_factory=TempoSettings)
    loki: LokiSettings = Field(default_factory=LokiSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings)
    webhook: WebhookNotifierSettings = Field(default_factory=WebhookNotifierSettings)
    git: GitSettings = Field(default_factory=GitSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = settings_cls.model_config.get("yaml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)


def load_settings(config_file: Path | str | None = None, **overrides: object) -> Settings:
    """Build settings once: env over YAML (``config_file``/``CORRELATOR_CONFIG``) over defaults."""
    path = config_file or os.environ.get("CORRELATOR_CONFIG")
    if not path:
        return Settings(**overrides)  # type: ignore[arg-type]
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")

    class _FromYaml(Settings):
        model_config = SettingsConfigDict(yaml_file=str(path))

    return _FromYaml(**overrides)  # type: ignore[arg-type]
