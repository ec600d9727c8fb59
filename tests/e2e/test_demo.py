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
    cause = out[out.index("Likely cause") :] if "Likely cause" in out else out
    assert "checkout-api" in cause
    assert "2.4.1" in cause
    assert "new_checkout" in out  # the remediation names the flag
    assert "7a3f9c2" in out or "2.4.0" in out  # ... and the rollback target
    # the suspect change's diff: the top hunk quoted, the compare view linked
    assert "Changed: `7a3f9c2 orders/history.go +12: SELECT ... FROM orders o" in cause
    assert "(https://github.com/shop/checkout-api/compare/5e1d0b8...7a3f9c2)" in cause
