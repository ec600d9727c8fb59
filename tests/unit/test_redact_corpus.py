"""The secret corpus: every format must be redacted, every harmless line must survive (D3).

Each entry is (format name, text as it appears in a log line / attribute / annotation, the
secret part). The values are synthetic (documented example shapes, not live credentials).
"""

from __future__ import annotations

import pytest

from correlator.llm.redact import redact

B64_40 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEowIBAAKCAQEA7bq9plantedKEYbody"

CORPUS: list[tuple[str, str, str]] = [
    ("aws access key id", "using AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    ("aws secret kv", f"aws_secret_access_key={B64_40}", B64_40),
    ("aws secret bare", f"creds loaded: {B64_40} (from env)", B64_40),
    ("aws env glued", f"MY_AWS_SECRET={B64_40}", B64_40),
    (
        "gcp private_key_id",
        '"private_key_id": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"',
        "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    ),
    (
        "gcp private_key pem",
        '"private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + PEM_BODY
        + '\\n-----END PRIVATE KEY-----\\n"',
        PEM_BODY,
    ),
    (
        "google api key",
        "key=AIzaSyA-abcdefghijklmnopqrstuvwxyz012345 x",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz012345",
    ),
    (
        "github classic",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    (
        "github fine-grained",
        "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789",
        "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789",
    ),
    ("github token env", "GITHUB_TOKEN=abcdefabcdefabcdefabcdef", "abcdefabcdefabcdefabcdef"),
    ("gitlab", "glpat-abcdefghij1234567890", "glpat-abcdefghij1234567890"),
    (
        "slack bot",
        "xoxb-1234567890-0987654321-abcdefghijklmnop",
        "xoxb-1234567890-0987654321-abcdefghijklmnop",
    ),
    (
        "slack user",
        "xoxp-1234567890-0987654321-abcdefghijkl",
        "xoxp-1234567890-0987654321-abcdefghijkl",
    ),
    (
        "slack webhook url",
        "posting to https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
        "XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    (
        "discord webhook url",
        "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz",
        "AbCdEfGhIjKlMnOpQrStUvWxYz",
    ),
    ("stripe live", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe restricted", "rk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "sendgrid",
        "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",
        "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    ),
    ("twilio api key", "SK0123456789abcdef0123456789abcdef", "SK0123456789abcdef0123456789abcdef"),
    (
        "openai",
        "sk-proj-Zx9vQ2mN4bT7wK1pL8sD3fG6hJ0aR5eY",
        "sk-proj-Zx9vQ2mN4bT7wK1pL8sD3fG6hJ0aR5eY",
    ),
    ("anthropic", "sk-ant-api03-abcdefghijklmnopqrstuv", "sk-ant-api03-abcdefghijklmnopqrstuv"),
    ("npm", "npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghijklmnopqrstuvwxyz0123456789"),
    (
        "vault",
        "hvs.CAESIJlWh5Ezm3q1hBS9pLkJ3dXyZ_abcdefgh",
        "hvs.CAESIJlWh5Ezm3q1hBS9pLkJ3dXyZ_abcdefgh",
    ),
    ("jwt", f"token {JWT} rejected", JWT),
    (
        "pem rsa",
        "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\n-----END RSA PRIVATE KEY-----",
        PEM_BODY,
    ),
    (
        "openssh key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + PEM_BODY + "\n-----END OPENSSH PRIVATE KEY-----",
        PEM_BODY,
    ),
    ("postgres dsn", "dsn postgres://app:Sup3rS3cret@db-primary:5432/app", "Sup3rS3cret"),
    ("mongodb srv", "mongodb+srv://svc:Mong0Pass1@cluster0.example.net/db", "Mong0Pass1"),
    ("redis no user", "redis://:hunter2hunter2@cache:6379/0", "hunter2hunter2"),
    (
        "bearer no digit",
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyzABCD",
        "abcdefghijklmnopqrstuvwxyzABCD",
    ),
    ("bearer with digit", "auth header Bearer abc123def456ghi789 rejected", "abc123def456ghi789"),
    ("basic header", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("cookie header", "Cookie: session=8f2a9c1e77; csrftoken=Zq81kK", "8f2a9c1e77"),
    ("set-cookie header", "Set-Cookie: sid=s%3Aabcdef123456; Path=/; HttpOnly", "s%3Aabcdef123456"),
    ("x-api-key header", "X-Api-Key: 0a1b2c3d4e5f6a7b8c9d", "0a1b2c3d4e5f6a7b8c9d"),
    ("password kv", "login password=Tr0ub4dor&3 failed", "Tr0ub4dor"),
    ("password multi-word", 'password: "first correct horse battery"', "correct horse battery"),
    ("db password env", "DB_PASSWORD=pl4ntedPw!", "pl4ntedPw!"),
    ("x api key env", "X_API_KEY=abcd1234efgh5678", "abcd1234efgh5678"),
    ("camelCase api key", "myApiKey: 'zyxw9876vuts5432'", "zyxw9876vuts5432"),
    ("json api_key", '{"api_key": "abcd-1234-efgh"}', "abcd-1234-efgh"),
    ("client secret", "client_secret=0123456789abcdefghij", "0123456789abcdefghij"),
    (
        "azure account key",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="
        "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==;EndpointSuffix=core.windows.net",
        "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==",
    ),
    (
        "azure sas sig",
        "https://acct.blob.core.windows.net/c?sv=2020&sig=AbCd%2BEfGh1234%3D",
        "AbCd%2BEfGh1234%3D",
    ),
    ("card", "card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
]

HARMLESS = [
    "GET /api/cart 500 in 1234ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
    "deploy checkout-api 2.3.1 commit 7a3f9c2e5b1d4f6a8c0e2b4d6f8a0c2e4b6d8f0a",
    "Token validation failed for user",
    "connecting to postgres://db:5432/app",
    "bypass cache: true",
    "llm usage max_tokens=4000 prompt_tokens=1234",
    "Basic authentication is disabled",
    "HTTP 503 upstream connect error or disconnect/reset before headers",
]


def test_the_corpus_has_at_least_30_formats() -> None:
    """D3: the corpus covers cloud keys, VCS and chat tokens, payment keys, JWT, PEM, DSN
    passwords, Authorization/Cookie headers and secret-named key=value in any case style."""
    assert len({name for name, _, _ in CORPUS}) >= 30


@pytest.mark.parametrize(("name", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_every_corpus_secret_is_redacted(name: str, text: str, secret: str) -> None:
    """D3: 13 of 28 formats reached the LLM on 83bc63e (glued/camelCase names, Bearer without a
    digit, multi-word passwords, webhook URLs, SendGrid, Azure, Cookie, bare AWS secret...)."""
    out = redact(text)
    assert secret not in out.text, out.text
    assert "[REDACTED:" in out.text
    assert redact(out.text).text == out.text  # idempotent


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_lines_survive(text: str) -> None:
    assert redact(text).text == text


def test_url_encoded_timestamps_are_not_cards() -> None:
    """Evidence links carry epoch-ms times URL-encoded (``%221794586889538%22``): the ``2`` of
    ``%22`` plus the digits happened to pass Luhn and became ``[REDACTED:card]``."""
    link = "explore?left=%7B%22to%22%3A%221794586889538%22%7D"
    assert redact(link).text == link
