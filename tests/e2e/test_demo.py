"""`correlator demo --once`: simulator + service + the checkout scenario's alert -> the note."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]


def test_demo_once_prints_the_checkout_note() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from correlator.cli import main; sys.exit(main())",
            "demo",
            "--once",
            "--port",
            "0",
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=200,
        env={"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    assert "/ui/investigations/" in out
    # issue [note]: the verdict quotes the change, the slow statement and the log line
    verdict = out[out.index("### Verdict") :].split("\n### ", 1)[0]
    assert "checkout-api 2.4.0 -> 2.4.1, commit 5e1d0b8 -> 7a3f9c2" in verdict
    assert "flag new_checkout=on" in verdict
    assert "`SELECT shop.orders` on db-primary:5432 took " in verdict
    assert "FROM orders o" in verdict
    assert "`slow query: seq scan on orders (rows=1100000, duration_ms=" in verdict
    assert "trace_id=" in verdict
    assert out.count("2.4.0 -> 2.4.1") == 1  # one rollout, one line, whatever saw it
    assert "? ->" not in out
    assert "-> ?" not in out
    # issue [diff]: the suspect change's top hunk quoted, the compare view linked
    assert "**Changed:** `7a3f9c2 orders/history.go +12: SELECT ... FROM orders o" in verdict
    assert "(https://github.com/shop/checkout-api/compare/5e1d0b8...7a3f9c2)" in verdict
