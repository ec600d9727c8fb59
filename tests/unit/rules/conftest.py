from pathlib import Path

import pytest

from correlator.rules import RuleSet, load_ruleset

RULES_DIR = Path(__file__).resolve().parents[3] / "rules"


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_ruleset(RULES_DIR)
