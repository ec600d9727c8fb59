"""Deploy announcements: a Grafana annotation and correlator's ``POST /api/v1/deploys``.

Both are what a CI/CD job would send after a rollout. Failures are logged, never raised: a
deploy marker that cannot be delivered must not take the service down.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from demo.service.logs import JsonLogger


@dataclass(frozen=True)
class Deploy:
    service: str
    version: str
    commit: str
    environment: str
    flag: str | None
    url: str
    author: str
    time_ms: int

    @property
    def description(self) -> str:
        text = f"{self.service} {self.version} ({self.commit}) to {self.environment}"
        return text + (f"; feature flag {self.flag}=true" if self.flag else "")

    def grafana_body(self) -> dict[str, object]:
        return {
            "time": self.time_ms,
            "timeEnd": self.time_ms,
            "tags": [
                "deploy",
                f"service:{self.service}",
                f"version:{self.version}",
                f"commit:{self.commit}",
                f"environment:{self.environment}",
            ],
            "text": f"Deployed {self.description}",
        }

    def correlator_body(self) -> dict[str, object]:
        when = datetime.fromtimestamp(self.time_ms / 1000, tz=UTC)
        return {
            "service": self.service,
            "version": self.version,
            "commit": self.commit,
            "environment": self.environment,
            "time": when.isoformat().replace("+00:00", "Z"),
            "url": self.url,
            "author": self.author,
            "description": self.description,
        }


def make_deploy(
    *,
    service: str,
    version: str,
    commit: str,
    environment: str,
    flag: str | None,
    repo_url: str,
    author: str,
) -> Deploy:
    return Deploy(
        service=service,
        version=version,
        commit=commit,
        environment=environment,
        flag=flag,
        url=f"{repo_url.rstrip('/')}/commit/{commit}",
        author=author,
        time_ms=int(time.time() * 1000),
    )


def _post(url: str, body: dict[str, object], token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(  # noqa: S310 - configured http(s) endpoint
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        resp.read()
        return int(resp.status)


def announce(
    deploy: Deploy,
    logger: JsonLogger,
    *,
    grafana_url: str | None,
    grafana_token: str | None,
    correlator_url: str | None,
    correlator_token: str | None,
) -> dict[str, int | str]:
    """Send the deploy marker to every configured target; returns target -> status or error."""
    targets: list[tuple[str, str, dict[str, object], str | None]] = []
    if grafana_url:
        targets.append(
            (
                "grafana",
                grafana_url.rstrip("/") + "/api/annotations",
                deploy.grafana_body(),
                grafana_token,
            )
        )
    if correlator_url:
        targets.append(
            (
                "correlator",
                correlator_url.rstrip("/") + "/api/v1/deploys",
                deploy.correlator_body(),
                correlator_token,
            )
        )
    results: dict[str, int | str] = {}
    for name, url, body, token in targets:
        try:
            results[name] = _post(url, body, token)
        except urllib.error.HTTPError as exc:
            results[name] = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            results[name] = f"error: {exc}"
        logger.info(
            "deploy announced", target=name, result=results[name], **deploy.correlator_body()
        )
    return results
