"""The service log never carries URL userinfo or webhook paths (reliability report D4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from correlator.telemetry import configure_logging

HOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/SLACKHOOKSECRET"
BACKEND = "http://admin:PROMPASS@127.0.0.1:9/api/v1/query"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


async def test_httpx_request_urls_do_not_reach_the_log(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """D4: with the root logger at INFO, httpx logged every request URL (the Slack webhook URL,
    ``user:password@`` backend URLs); now it is quiet and any line mentioning them is scrubbed."""
    configure_logging("INFO")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.post(HOOK, json={"text": "x"})
        await client.get(BACKEND)
    logging.getLogger("correlator.test").warning("failed to call %s and %s", HOOK, BACKEND)
    logging.getLogger("httpx").warning("HTTP Request: POST %s", BACKEND)
    err = capsys.readouterr().err
    assert "failed to call" in err
    assert "SLACKHOOKSECRET" not in err
    assert "PROMPASS" not in err
    assert "[REDACTED]" in err
