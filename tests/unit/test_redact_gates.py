"""Redaction's gates skip a pattern only when it cannot match, so skipping changes nothing.

``redact`` runs a pattern only when its gate (a literal every match contains, a separator it
needs, a minimum length) holds. Each gate must be a necessary condition of its pattern: these
tests search the corpus and generated texts built from the patterns' own pieces, and every text
a pattern matches must pass that pattern's gate. ``Redactor.tree`` redacts each distinct string
once per walk; its counts must still be per occurrence.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from correlator.llm import redact as r
from correlator.llm.redact import Redactor, redact
from tests.unit.test_redact_corpus import CORPUS, HARMLESS

GATED: list[tuple[str, re.Pattern[str], r.Gate]] = [
    *((p.pattern[:24], p, gate) for p, gate, _ in r._STEPS),
    ("card", r._CARD, r._CARD_GATE),
    ("email", r._EMAIL, r._EMAIL_GATE),
]

# pieces of the patterns (names, schemes, prefixes, separators) and of the text around secrets,
# including characters that case-fold onto ASCII letters in a regex (Kelvin sign, long s,
# dotted/dotless i)
PIECES = [
    "password", "PassWord", "pwd", "pass", "sig", "token", "Token ", "api_key", "apiKey",
    "X-Api-Key", "client-secret", "credentials", "PRIVATE_KEY_ID", "Authorization", "set-cookie",
    "Cookie", "auth-token", "security-token", "Bearer ", "basic ", "BASIC ", "=", ":", ": ", '"',
    "'", " ", "\n", "://", "https://", "hooks.slack.com/services/", "discord.com/api/webhooks/",
    "@", "u:p@",
    "eyJ", "eyJhbGci.", "-----BEGIN ", "RSA PRIVATE KEY-----", "-----END ", "sk-", "sk-proj-",
    "xoxb-", "xapp-", "ghp_", "github_pat_", "glpat-", "AKIA", "AIza", "sk_live_", "whsec_", "SG.",
    "npm_", "pypi-AgE", "shpat_", "hvs.", "SK", "dop_v1_", "AGE-SECRET-KEY-1", "glc_",
    "4111 1111 1111 1111", "5500-0000-0000-0004", "4111111111111111", "0123456789", "a@b.co",
    "abcdefghijKLMNOPQRST", "ABCDEF0123456789abcdef", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "[REDACTED:jwt]", "\u212a", "\u017f", "\u0130", "\u0131", "e\u0301", "%3D", "&", ";", "_",
    "-", ".",
]  # fmt: skip
TEXTS = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), min_size=1, max_size=14
).map("".join)


def _check(text: str) -> None:
    for name, pattern, gate in GATED:
        if pattern.search(text) is not None:
            assert gate(text), f"{name}: matched but its gate is false for {text!r}"


@pytest.mark.parametrize("text", [t for _, t, _ in CORPUS] + HARMLESS)
def test_every_gate_holds_where_its_pattern_matches_the_corpus(text: str) -> None:
    _check(text)


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
def test_every_gate_holds_where_its_pattern_matches(text: str) -> None:
    _check(text)


def test_case_folded_key_names_still_reach_the_pattern() -> None:
    """Non-ASCII text keeps the regex's case folding: the Kelvin sign folds onto ``k``."""
    text = "api_\u212aey=abcdef123456"
    assert r._KV.search(text) is not None
    assert r._kv_gate(text)
    assert "[REDACTED:secret]" in redact(text).text


def test_tree_counts_every_occurrence_of_a_repeated_secret() -> None:
    once = Redactor()
    once.text("password=hunter2hunter2")
    walked = Redactor()
    out = walked.tree({"a": ["password=hunter2hunter2"] * 3, "password=hunter2hunter2": "x"})
    assert out == {
        "a": ["password=[REDACTED:password]"] * 3,
        "password=[REDACTED:password]": "x",
    }
    assert walked.snapshot() == {"password": 4 * once.counts["password"]}


def test_tree_returns_plain_strings_for_str_subclasses() -> None:
    """``model_dump(mode="python")`` keeps enum members; the walk gives plain ``str`` back."""
    from enum import StrEnum

    class Kind(StrEnum):
        TRACE = "trace"

    out = Redactor().tree({"kind": Kind.TRACE, "kinds": [Kind.TRACE]})
    assert out == {"kind": "trace", "kinds": ["trace"]}
    assert type(out["kind"]) is str
    assert type(out["kinds"][0]) is str


def test_redact_models_equals_one_redact_model_per_model() -> None:
    from datetime import UTC, datetime

    from correlator.llm.redact import redact_model, redact_models
    from correlator.models import Deploy

    at = datetime(2026, 1, 1, tzinfo=UTC)
    text = "password=hunter2hunter2 ok"
    deploys = [
        Deploy(service="checkout", version=f"v{n}", time=at, description=text) for n in range(3)
    ]
    one, many = Redactor(), Redactor()
    assert [redact_model(d, one) for d in deploys] == redact_models(deploys, many)
    assert one.snapshot() == many.snapshot() == {"password": 3}
