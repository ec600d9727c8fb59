"""Redaction: planted secrets never survive, placeholders are typed and counted, idempotent."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from correlator.llm.redact import Redactor, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\nabcdEFGH1234\n"
    "-----END RSA PRIVATE KEY-----"
)

CASES = [
    (
        "key sk-proj-AbCdEfGhIjKlMnOpQrStUv123456 used",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUv123456",
        "api_key",
    ),
    ("slack xoxb-1234567890-abcdefghijkl ok", "xoxb-1234567890-abcdefghijkl", "api_key"),
    (
        "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "api_key",
    ),
    ("gl glpat-abcdefghij1234567890", "glpat-abcdefghij1234567890", "api_key"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "api_key"),
    (
        "g AIzaSyA-abcdefghijklmnopqrstuvwxyz012345",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz012345",
        "api_key",
    ),
    ("Authorization: Bearer abc123def456ghi789", "abc123def456ghi789", "bearer"),
    ("dsn postgres://app:s3cr3tP4ss@db:5432/app", "s3cr3tP4ss", "password"),
    ("redis://:hunter2hunter2@cache:6379/0", "hunter2hunter2", "password"),
    ("login password=Tr0ub4dor&3 failed", "Tr0ub4dor", "password"),
    ('{"api_key": "abcd-1234-efgh"}', "abcd-1234-efgh", "secret"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI",
        "aws_secret",
    ),
    (f"token {JWT} rejected", JWT, "jwt"),
    (f"cert {PEM} loaded", "MIIEowIBAAKCAQEA7bq9", "private_key"),
    ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "card"),
    ("card 5500-0000-0000-0004 declined", "5500-0000-0000-0004", "card"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), CASES)
def test_planted_secret_is_replaced_by_typed_placeholder(text: str, secret: str, kind: str) -> None:
    out = redact(text)
    assert secret not in out.text
    assert f"[REDACTED:{kind}]" in out.text
    assert out.counts.get(kind, 0) >= 1


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/cart 500 in 1234ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
        "ts=1700000000000123 order 4111111111111112 not a card (Luhn fails)",
        "Token validation failed for user",
        "connecting to postgres://db:5432/app",
        "bypass cache: true",
    ],
)
def test_harmless_text_is_untouched(text: str) -> None:
    assert redact(text).text == text


def test_emails_only_when_asked() -> None:
    line = "mail to ops@example.com failed"
    assert redact(line).text == line
    out = redact(line, emails=True)
    assert out.text == "mail to [REDACTED:email] failed"
    assert out.counts == {"email": 1}


def test_redactor_counts_over_a_tree() -> None:
    r = Redactor()
    tree = {"db.statement": "SELECT 1 -- password=abc12345", "k": ["Bearer tok3n1234567", 5]}
    out = r.tree(tree)
    assert "abc12345" not in str(out)
    assert "tok3n1234567" not in str(out)
    assert r.snapshot() == {"bearer": 1, "password": 1}


_SECRETS = st.one_of(
    st.text(string.ascii_letters + string.digits, min_size=20, max_size=40).map(
        lambda s: "sk-" + s
    ),
    st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16).map(
        lambda s: "AKIA" + s
    ),
    st.text(string.ascii_letters + string.digits, min_size=36, max_size=36).map(
        lambda s: "ghp_" + s
    ),
    st.text(string.ascii_letters + string.digits, min_size=8, max_size=30).map(
        lambda s: "Bearer 9" + s
    ),
    st.text(string.ascii_letters + string.digits, min_size=6, max_size=30).map(
        lambda s: "password=" + s
    ),
    st.text(string.ascii_letters + string.digits, min_size=6, max_size=30).map(
        lambda s: f"postgres://u:{s}@h/db"
    ),
    st.text(string.ascii_letters + string.digits + "_-", min_size=10, max_size=40).map(
        lambda s: f"eyJhbGciOi.eyJ{s}.sig{s}"
    ),
)


def _luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


_MORE_SECRETS = st.one_of(
    st.text(string.digits, min_size=14, max_size=14).map(lambda s: _luhn_complete("4" + s)),
    st.text(string.ascii_letters + string.digits, min_size=12, max_size=30).map(
        lambda s: "xoxb-1" + s
    ),
    st.text(string.ascii_letters + string.digits, min_size=20, max_size=20).map(
        lambda s: "glpat-" + s
    ),
    st.text(string.ascii_letters + string.digits, min_size=35, max_size=35).map(
        lambda s: "AIza" + s
    ),
    st.text(string.ascii_letters + string.digits + "+/", min_size=20, max_size=60).map(
        lambda s: f"-----BEGIN EC PRIVATE KEY-----\n{s}\n-----END EC PRIVATE KEY-----"
    ),
)


def _secret_core(s: str) -> str:
    if s.startswith("-----BEGIN"):
        return s.split("\n")[1]
    for sep in ("Bearer ", "password=", "u:"):
        if s.startswith(sep) or (sep == "u:" and "://u:" in s):
            return s.split(sep, 1)[1].split("@", 1)[0]
    return s


@settings(max_examples=400, deadline=None)
@given(
    before=st.text(max_size=40),
    secret=st.one_of(_SECRETS, _MORE_SECRETS),
    after=st.text(max_size=40),
)
def test_planted_secrets_never_survive(before: str, secret: str, after: str) -> None:
    core = _secret_core(secret)
    assume(core not in before and core not in after)
    assume(core not in secret.replace(core, "", 1))  # "password=passwo": the name is kept
    out = redact(f"{before} {secret} {after}").text
    assert core not in out


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200), st.booleans())
def test_redaction_is_idempotent_on_any_text(text: str, emails: bool) -> None:
    once = redact(text, emails=emails).text
    assert redact(once, emails=emails).text == once


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=30), secret=_SECRETS, after=st.text(max_size=30))
def test_redaction_is_idempotent_with_secrets(before: str, secret: str, after: str) -> None:
    once = redact(f"{before} {secret} {after}").text
    again = redact(once)
    assert again.text == once
    assert again.counts == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ids 12 4111 1111 1111 1111 x", "ids 12 [REDACTED:card] x"),
        ("4111 1111 1111 1111 99", "[REDACTED:card] 99"),
        ("amex 3782 822463 10005", "amex [REDACTED:card]"),
        ("1 2 3 4 5 6 7 8 9 10 11 12 13 14", "1 2 3 4 5 6 7 8 9 10 11 12 13 14"),
    ],
)
def test_card_numbers_next_to_other_digits(text: str, expected: str) -> None:
    assert redact(text).text == expected


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(string.digits + " -", max_size=12),
    body=st.text(string.digits, min_size=14, max_size=14),
    after=st.text(string.digits + " -", max_size=12),
)
def test_cards_survive_no_neighbouring_digits(before: str, body: str, after: str) -> None:
    card = _luhn_complete("4" + body)
    assume(card not in before and card not in after)
    assert card not in redact(f"{before} {card} {after}").text
