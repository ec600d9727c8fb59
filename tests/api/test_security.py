"""HTTP hardening: CSRF, Host check, JSON-only, login, throttling, headers, docs (D5/D13)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from correlator.api import AppDeps, create_app
from correlator.api.security import AuthThrottle
from correlator.cli.serve import exposure_problem
from correlator.settings import Settings
from tests.api.conftest import fixture_bytes

URL = "/api/v1/webhooks/alertmanager"
BODY = fixture_bytes("alertmanager_webhook_01_firing.json")
JSON = {"Content-Type": "application/json"}


async def _client(tmp_path: Path, base: str = "http://127.0.0.1", **kw: Any) -> Any:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", **kw)
    app = create_app(settings, AppDeps(run_workers=False, run_scheduler=False))
    return app, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)), base_url=base
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({}, 415),
        ({**JSON, "Origin": "http://127.0.0.2:19190"}, 403),
        ({**JSON, "Sec-Fetch-Site": "cross-site"}, 403),
        ({**JSON, "Sec-Fetch-Site": "same-site"}, 403),
        (JSON, 202),
        ({**JSON, "Origin": "http://127.0.0.1"}, 202),
    ],
)
async def test_open_intake_refuses_cross_site_and_non_json(
    tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    """D5: with no webhook token, a foreign page's no-cors text/plain POST planted alerts."""
    app, client = await _client(tmp_path)
    async with app.router.lifespan_context(app), client:
        r = await client.post(URL, content=BODY, headers=headers)
        assert r.status_code == status, r.text
        deploy = await client.post(
            "/api/v1/deploys",
            content=b'{"service":"x","time":"2026-01-01T00:00:00Z"}',
            headers=headers,
        )
        assert deploy.status_code == (201 if status == 202 else status)


async def test_host_header_must_be_allowed(tmp_path: Path) -> None:
    """D5: ``Host: attacker.example`` answered 200 (the DNS-rebinding precondition)."""
    app, client = await _client(tmp_path, base="http://attacker.example")
    async with app.router.lifespan_context(app), client:
        assert (await client.get("/api/v1/investigations")).status_code == 400
        assert (await client.get("/ui/investigations")).status_code == 400
    app, client = await _client(tmp_path, base="http://localhost:8080")
    async with app.router.lifespan_context(app), client:
        assert (await client.get("/api/v1/investigations")).status_code == 200
    app, client = await _client(
        tmp_path, base="http://correlator.internal", allowed_hosts=["correlator.internal"]
    )
    async with app.router.lifespan_context(app), client:
        assert (await client.get("/healthz")).status_code == 200


async def test_security_headers_and_no_store(tmp_path: Path) -> None:
    """D13: no CSP / X-Frame-Options / nosniff; investigation JSON was cacheable."""
    app, client = await _client(tmp_path)
    async with app.router.lifespan_context(app), client:
        api = await client.get("/api/v1/investigations")
        page = await client.get("/ui/investigations")
    for r in (api, page):
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    assert api.headers["cache-control"] == "no-store"


async def test_docs_have_no_third_party_scripts(tmp_path: Path) -> None:
    """D13: /docs loaded swagger-ui from cdn.jsdelivr.net on the UI's origin."""
    app, client = await _client(tmp_path)
    async with app.router.lifespan_context(app), client:
        for path in ("/docs", "/redoc"):
            r = await client.get(path)
            assert r.status_code == 200
            assert "<script" not in r.text
            assert "cdn." not in r.text
            assert "/api/v1/webhooks/alertmanager" in r.text


async def test_ui_token_is_not_accepted_in_the_url(tmp_path: Path) -> None:
    """D13: ``GET /ui/login?token=`` put the UI token in browser history and proxy logs."""
    app, client = await _client(tmp_path, ui_token="tok-123456")
    async with app.router.lifespan_context(app), client:
        r = await client.get("/ui/login", params={"token": "tok-123456"})
        assert r.status_code == 400
        assert "set-cookie" not in r.headers
        form = await client.get("/ui/login")
        assert form.status_code == 200
        assert 'method="post"' in form.text


async def test_failed_logins_are_rate_limited(tmp_path: Path) -> None:
    """D13: ~900 wrong logins/s were answered 401 without any throttling."""
    app, client = await _client(tmp_path, ui_token="tok-123456", webhook_token="wh-123456")
    async with app.router.lifespan_context(app), client:
        codes = [
            (
                await client.get("/api/v1/investigations", headers={"Authorization": "Bearer x"})
            ).status_code
            for _ in range(12)
        ]
        assert codes[:10] == [401] * 10
        assert codes[10:] == [429, 429]
        right = await client.get(
            "/api/v1/investigations", headers={"Authorization": "Bearer tok-123456"}
        )
        assert right.status_code == 429  # refused before comparing, until the window passes
        assert int(right.headers["retry-after"]) >= 1


def test_throttle_window_expires() -> None:
    now = [0.0]
    t = AuthThrottle(limit=2, window_seconds=10, clock=lambda: now[0])

    class Req:
        client = type("C", (), {"host": "10.0.0.1"})()

    t.failed(Req())  # type: ignore[arg-type]
    t.failed(Req())  # type: ignore[arg-type]
    with pytest.raises(Exception, match="too many"):
        t.check(Req())  # type: ignore[arg-type]
    now[0] = 11.0
    t.check(Req())  # type: ignore[arg-type]


def test_serve_refuses_non_loopback_without_tokens() -> None:
    """D5: ``correlator serve --host 0.0.0.0`` with no tokens started with only a warning."""
    assert exposure_problem("127.0.0.1", None, None) is None
    assert exposure_problem("localhost", None, None) is None
    problem = exposure_problem("0.0.0.0", None, "set")
    assert problem is not None
    assert "CORRELATOR_WEBHOOK_TOKEN" in problem
    assert exposure_problem("0.0.0.0", "a", "b") is None


def test_serve_cli_exits_2_unless_insecure(tmp_path: Path) -> None:
    """D5: the real command refuses before binding (exit 2, message on stderr)."""
    import subprocess
    import sys

    code = "import sys; from correlator.cli import main; sys.exit(main())"
    env = {
        "PATH": "/usr/bin:/bin",
        "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
    }
    done = subprocess.run(
        [sys.executable, "-c", code, "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "--insecure" in done.stderr
