"""The README's Alertmanager receiver snippet is valid config and points at the real endpoint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from correlator.api import webhooks

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def snippet() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "webhook_configs" in b]
    return block.replace("    # ... unchanged\n", "")


def test_snippet_posts_to_the_webhook_route_with_a_bearer_token() -> None:
    config = yaml.safe_load(snippet())
    (receiver,) = [r for r in config["receivers"] if r["name"] == "correlator"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"].endswith("/api/v1/webhooks/alertmanager")
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    assert hook["send_resolved"] is True
    paths = {getattr(r, "path", None) for r in webhooks.router.routes}
    assert "/api/v1/webhooks/alertmanager" in paths


@pytest.mark.e2e
def test_snippet_passes_amtool_check_config(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is not installed (make system-deps)")
    path = tmp_path / "alertmanager.yml"
    path.write_text(snippet())
    result = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
