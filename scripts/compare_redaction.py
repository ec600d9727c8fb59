#!/usr/bin/env python3
"""Compare correlator's redaction with detect-secrets' plugins on the test corpus (D3).

    pip install detect-secrets==1.5.0   # not a project dependency; only for this comparison
    python scripts/compare_redaction.py

For each corpus entry (tests/unit/test_redact_corpus.py) it reports whether the secret part is
gone after ``correlator.llm.redact.redact`` and whether any detect-secrets plugin (all default
plugins: keyword, high-entropy base64/hex, AWS, Slack, Stripe, GitHub, JWT, private key, ...)
flags a value covering it, and counts false positives on the harmless lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tempfile

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

from correlator.llm.redact import redact
from tests.unit.test_redact_corpus import CORPUS, HARMLESS


def ds_found(text: str) -> list[str]:
    """Secret values detect-secrets reports for ``text`` scanned as a file (its normal mode,
    with its default filters and entropy limits)."""
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write(text + "\n")
    found = SecretsCollection()
    found.scan_file(f.name)
    Path(f.name).unlink()
    return [s.secret_value or "" for _, s in found]


def ds_catches(text: str, secret: str) -> bool:
    """Caught when a reported value overlaps the secret part."""
    return any(v and (v in secret or secret in v) for v in ds_found(text))


def main() -> int:
    ours = theirs = 0
    with default_settings():
        for name, text, secret in CORPUS:
            a = secret not in redact(text).text
            b = ds_catches(text, secret)
            ours += a
            theirs += b
            print(
                f"{name:28} correlator={'yes' if a else 'NO ':3} detect-secrets={'yes' if b else 'NO'}"
            )
        fp_ours = sum(redact(t).text != t for t in HARMLESS)
        fp_theirs = sum(bool(ds_found(t)) for t in HARMLESS)
    n = len(CORPUS)
    print(f"\ncaught: correlator {ours}/{n}, detect-secrets {theirs}/{n}")
    print(
        f"false positives on {len(HARMLESS)} harmless lines: correlator {fp_ours}, detect-secrets {fp_theirs}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
