"""``correlator bench --quick`` end to end (real serve, simulator, Prometheus, fake provider).

No timing assertions: the smoke run proves every figure produces numbers and both files are
written. It needs the Prometheus binary (scripts/system-deps.sh) and takes about a minute.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from correlator.lab.bench.report import BEGIN, END

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None and not Path("/usr/bin/prometheus").exists(),
    reason="needs the prometheus binary",
)

FIGURES = ("ingest", "first_note", "llm_vs_naive", "storm", "replay", "startup", "memory")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@pytest.mark.timeout(300)
def test_quick_bench_writes_every_figure_with_numbers(tmp_path: Path) -> None:
    md, js = tmp_path / "bench.md", tmp_path / "bench.json"
    md.write_text("# Benchmarks\n\nHand-written intro stays.\n", encoding="utf-8")
    cmd = [sys.executable, "-c", "import sys; from correlator.cli import main; sys.exit(main())"]
    done = subprocess.run(
        [*cmd, "bench", "--quick", "--out", str(md), "--json", str(js)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["machine"]["nproc"] >= 1
    figs = doc["figures"]
    assert set(figs) == set(FIGURES)
    for name in FIGURES:
        assert "error" not in figs[name], figs[name]
    ingest = figs["ingest"]["runs"][0]
    assert _number(ingest["webhooks_per_s"])
    assert ingest["accepted"] > 0
    assert _number(ingest["p50_ms"])
    assert _number(ingest["p99_ms"])
    assert ingest["no_loss"] is True
    case = figs["first_note"]["cases"][0]
    assert all(_number(case[k]) for k in ("first_note_s", "local_s", "bound_s", "ratio"))
    llm = figs["llm_vs_naive"]["cases"][0]
    for kind in ("staged", "staged_tuned", "naive"):
        assert all(_number(llm[kind][k]) for k in ("first_note_s", "final_note_s", "tokens_in"))
        assert llm[kind]["calls"] >= 1
    assert llm["naive"]["calls"] == 1
    storm = figs["storm"]["runs"][0]
    assert storm["accepted"] == storm["webhooks"]
    # grouping: alertmanager (the default) makes one investigation per Alertmanager group
    assert storm["investigations"] == storm["groups"]
    assert storm["alerts"] > storm["groups"]
    assert _number(storm["request_ratio"])
    assert _number(storm["peak_rss_mib"])
    replay = figs["replay"]["runs"][0]
    assert replay["errors"] == 0
    assert _number(replay["investigations_per_s"])
    start = figs["startup"]["runs"][0]
    assert _number(start["serve_to_ready_s"])
    assert _number(start["help_s"])
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nHand-written intro stays.")
    assert BEGIN in text
    assert END in text
    assert "### 4. Alert storm" in text
