import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent.parent
CONTRACT = [
    "CORRELATOR_DATABASE_URL",
    "CORRELATOR_WEBHOOK_TOKEN",
    "CORRELATOR_PROMETHEUS__URL",
    "CORRELATOR_TEMPO__URL",
    "CORRELATOR_LOKI__URL",
    "CORRELATOR_GRAFANA__URL",
    "CORRELATOR_ALERTMANAGER__URL",
    "CORRELATOR_LLM__MODEL",
    "CORRELATOR_LLM__API_BASE",
    "CORRELATOR_LLM__API_KEY",
    "CORRELATOR_SLACK__BOT_TOKEN",
    "CORRELATOR_SLACK__CHANNEL",
    "CORRELATOR_SLACK__API_URL",
    "CORRELATOR_PAGERDUTY__ROUTING_KEY",
    "CORRELATOR_PAGERDUTY__EVENTS_URL",
]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts" / "gen_config_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_matches_the_settings_model() -> None:
    gen = load_generator()
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert gen.updated(doc) == doc, "docs/configuration.md is stale: run scripts/gen_config_docs.py"


def test_every_contract_env_var_is_documented() -> None:
    generated = load_generator().render()
    for name in CONTRACT:
        assert f"`{name}`" in generated


def test_a_new_setting_would_make_the_check_fail() -> None:
    gen = load_generator()
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    stale = doc.replace("| `workers` |", "| `workerz` |")
    assert gen.updated(stale) != stale
