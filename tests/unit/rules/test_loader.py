"""Loader: merging, and every error carrying file:line; the ``rules check`` CLI exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from correlator.cli import main
from correlator.rules import RulesError, check_directory, load_ruleset
from tests.unit.rules.conftest import RULES_DIR


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def problems_of(tmp_path: Path) -> list[str]:
    ruleset, problems = check_directory(tmp_path)
    assert ruleset is None
    return [str(p) for p in problems]


def test_shipped_rules_load_and_merge() -> None:
    rs = load_ruleset(RULES_DIR)
    assert len(rs.sources) >= 3
    assert {r.name for r in rs.rules} >= {"errors", "latency", "resources", "traffic"}
    assert rs.remediation.rollback.kubectl
    assert rs.metrics


def test_unknown_key_is_reported_with_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path, "a.yaml", "rules:\n  - name: r\n    signals: [logs]\n    wieghts: {}\n")
    assert problems_of(tmp_path) == [f"{f}:4: rules.0.wieghts: Extra inputs are not permitted"]


def test_bad_signal_and_bad_regex_point_at_their_lines(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "b.yaml",
        "rules:\n"
        "  - name: ok\n"
        "    signals: [logs]\n"
        "  - name: bad\n"
        "    match:\n"
        "      alertname: '(unclosed'\n"
        "    signals:\n"
        "      - logs\n"
        "      - tea_leaves\n",
    )
    out = problems_of(tmp_path)
    assert any(p.startswith(f"{f}:6: rules.1.match.alertname") for p in out), out
    assert any(p.startswith(f"{f}:9: rules.1.signals.1") for p in out), out


def test_yaml_syntax_error_and_duplicate_key_have_lines(tmp_path: Path) -> None:
    f = write(tmp_path, "c.yaml", "weights:\n  logs: 1\n  logs: 2\n")
    g = write(tmp_path, "d.yaml", "rules: [\n  {name: x\n")
    out = problems_of(tmp_path)
    assert any(p.startswith(f"{f}:3: YAML: duplicate key 'logs'") for p in out), out
    assert any(p.startswith(f"{g}:") and "YAML" in p for p in out), out


def test_template_typo_is_caught_at_load_time(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "e.yaml",
        "metrics:\n  - name: cpu\n    signal: cpu\n    expr: 'rate(x{s=\"{{ servcie }}\"}[1m])'\n",
    )
    out = problems_of(tmp_path)
    assert len(out) == 1
    assert out[0].startswith(f"{f}:4: ")
    assert "servcie" in out[0]


def test_duplicate_rule_across_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - name: same\n    signals: [logs]\n")
    g = write(tmp_path, "b.yaml", "\n\nrules:\n  - name: same\n    signals: [change]\n")
    with pytest.raises(RulesError) as err:
        load_ruleset(tmp_path)
    (problem,) = err.value.problems
    assert str(problem).startswith(f"{g}:4: rule 'same' already defined at ")
    assert "a.yaml:2" in str(problem)


def test_rules_check_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good"
    shutil.copytree(RULES_DIR, good, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    assert main(["rules", "check", str(good)]) == 0
    assert capsys.readouterr().out.startswith("ok:")
    bad = tmp_path / "bad"
    bad.mkdir()
    write(bad, "x.yaml", "thresholds:\n  min_score: -1\n")
    assert main(["rules", "check", str(bad)]) == 1
    assert f"{bad / 'x.yaml'}:2: thresholds.min_score" in capsys.readouterr().err
    assert main(["rules", "check", str(tmp_path / "missing")]) == 1


def test_rules_check_defaults_to_the_configured_rules_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "rules"
    bad.mkdir()
    write(bad, "x.yaml", "weights:\n  tea: 1\n")
    monkeypatch.setenv("CORRELATOR_RULES_DIR", str(bad))
    assert main(["rules", "check"]) == 1
    assert f"{bad / 'x.yaml'}:2:" in capsys.readouterr().err
