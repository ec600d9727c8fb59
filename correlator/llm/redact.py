"""Redact secrets where untrusted text enters: typed placeholders, counted per type.

Pure functions over text. Applied once where data enters (alert labels/annotations and deploy
markers at intake, the whole evidence bundle right after the evidence stage: log lines, span
attributes and status messages, db statements, change descriptions, backend error snippets), so
storage, the UI, notes and prompts only see redacted text; ``correlator.llm`` applies it once
more to every rendered prompt as a safety net. Redaction is idempotent: placeholders look like
``[REDACTED:jwt]`` and no pattern matches them again.

Covered: PEM private keys, JWTs, passwords in URLs/DSNs, ``Bearer``/``Basic`` credentials,
provider API keys by prefix (OpenAI/Anthropic ``sk-``, Slack ``xox?-``, GitHub ``ghp_``/
``github_pat_``, GitLab ``glpat-``, AWS ``AKIA``/``ASIA``, Google ``AIza``, Stripe ``sk_live_``),
``key=value`` credentials in any case style (``password``, ``DB_PASSWORD``, ``GITHUB_TOKEN``,
``myApiKey``, ``private_key_id``, ``AccountKey``, quoted multi-word values), whole
``Authorization``/``Cookie``/``Set-Cookie``/``X-Api-Key`` header values, webhook URLs whose path
is the credential (Slack, Discord, Office), SendGrid/npm/PyPI/Vault/Shopify/Twilio tokens, bare
40-character AWS secret keys, card numbers (Luhn-checked), and optionally e-mail addresses. The
corpus in tests/unit/test_redact_corpus.py lists every format; scripts/compare_redaction.py
measures it against detect-secrets' plugins.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_NOT_PLACEHOLDER = r"(?!\[REDACTED:)"


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
_URL_PASSWORD = re.compile(
    r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/@\[\]]{0,256}:)"
    + _NOT_PLACEHOLDER
    + r"[^\s@/\[\]]{1,256}(?=@)"
)
_AUTH_SCHEME = re.compile(
    r"(?P<keep>\b(?P<scheme>[Bb]earer|BEARER|[Bb]asic|BASIC|[Tt]oken)\s+)"
    + _NOT_PLACEHOLDER
    # a credential has a digit (8+ chars) or is long (20+): "Basic authentication" is prose
    + r"(?:(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{20,})"
)
# Whole header values: ``Authorization: <anything>``, ``Cookie: a=b; c=d``, ``X-Api-Key: ...``
_HEADER = re.compile(
    r"(?P<keep>(?i:\b(?P<name>proxy-authorization|authorization|set-cookie|cookie"
    r"|x-api-key|x-auth-token|api-key|x-amz-security-token)\b)[\"']?\s{0,3}[:=]\s{0,3}[\"']?"
    r"(?:(?P<scheme>(?i:bearer|basic|token|digest|negotiate))\s+)?+)"
    + _NOT_PLACEHOLDER
    + r"[^\s\"'][^\r\n\"']{2,}"
)
_API_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{16,}"
    r"|xox[abposre]-[A-Za-z0-9-]{10,}"
    r"|xapp-[A-Za-z0-9-]{10,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|[sr]k_(?:live|test)_[0-9A-Za-z]{16,}"
    r"|whsec_[0-9A-Za-z]{24,}"
    r"|SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|pypi-AgE[A-Za-z0-9_-]{40,}"
    r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"
    r"|hv[sb]\.[A-Za-z0-9_-]{24,}"
    r"|SK[0-9a-f]{32}"
    r"|dop_v1_[a-f0-9]{64}"
    r"|AGE-SECRET-KEY-1[0-9A-Z]{50,}"
    r"|glc_[A-Za-z0-9+/=_-]{32,}"
    r")"
)
# Webhook URLs whose path is the credential (Slack, Discord, Teams/Office connectors)
_WEBHOOK_URL = re.compile(
    r"(?P<keep>(?i:https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|(?:[a-z0-9-]+\.)?discord(?:app)?\.com/api/webhooks/"
    r"|[a-z0-9-]+\.webhook\.office\.com/)))" + _NOT_PLACEHOLDER + r"[A-Za-z0-9/_@.+-]{8,}"
)
# A bare 40-character AWS secret access key: base64 alphabet with upper, lower and a digit
# (git SHAs are lowercase hex, so they never match).
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])"
    r"(?=[A-Za-z0-9/+]*[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
_KV_NAMES = {
    "password": "password",
    "passwd": "password",
    "pwd": "password",
    "pass": "password",
    "passphrase": "password",
    "aws_secret_access_key": "aws_secret",
    "aws_session_token": "aws_secret",
}
# A credential-named key in any case style: ``password``, ``DB_PASSWORD``, ``GITHUB_TOKEN``,
# ``X_API_KEY``, ``myApiKey``, ``private_key_id``, ``AccountKey`` ... then ``:`` or ``=``.
_KV_WORD = (
    r"aws_secret_access_key|aws_session_token|client[_-]?secret|secret[_-]?access[_-]?key"
    r"|secret[_-]?key|access[_-]?key|account[_-]?key|shared[_-]?access[_-]?key"
    r"|private[_-]?key(?:[_-]?id)?|api[_-]?key|apikey|auth[_-]?token|access[_-]?token"
    r"|refresh[_-]?token|session[_-]?token|id[_-]?token|bearer[_-]?token|credentials?"
    r"|passphrase|password|passwd|secret|token|pwd"
)
_KV = re.compile(
    r"(?P<keep>(?P<name>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_.-]|[a-z0-9]+(?=[A-Z]))*"
    r"(?i:" + _KV_WORD + r")|(?i:\b(?:pass|sig)))"
    r"(?![A-Za-z0-9])[\"']?\s{0,3}[:=]\s{0,3}(?P<q>[\"']?))"
    + _NOT_PLACEHOLDER
    + r"(?:(?<=[\"'])[^\"'\r\n]{1,512}(?=[\"'])|(?<![\"'])[^\s\"'&,;<>\[\]]{4,})"
)
_CARD = re.compile(r"(?<![0-9A-Za-z%])[0-9](?:[ -]?[0-9]){12,40}(?![0-9A-Za-z])")
_EMAIL = re.compile(
    r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"
)


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int]


def _sub(
    pattern: re.Pattern[str],
    text: str,
    counts: Counter[str],
    kind: Callable[[re.Match[str]], str | None],
) -> str:
    def repl(m: re.Match[str]) -> str:
        k = kind(m)
        if k is None:
            return m.group(0)
        counts[k] += 1
        keep = m.groupdict().get("keep") or ""
        return keep + placeholder(k)

    return pattern.sub(repl, text)


def _is_card(groups: list[str]) -> bool:
    if len(groups) > 1 and any(not 3 <= len(g) <= 6 for g in groups):
        return False  # cards are printed in groups of 4 (Amex 4-6-5), not "1 2 3"
    digits = "".join(groups)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits)


def _card_repl(counts: Counter[str]) -> Callable[[re.Match[str]], str]:
    """Redact every Luhn-valid run of digit groups (13-19 digits) inside a candidate, left to
    right, so numbers glued to other digits ("12 4111 1111 1111 1111") are still caught."""

    def repl(m: re.Match[str]) -> str:
        parts = re.split(r"([ -])", m.group(0))  # groups at even indexes, separators at odd
        groups = parts[0::2]
        out: list[str] = []
        i = 0
        while i < len(groups):
            size = next(
                (n for n in range(len(groups) - i, 0, -1) if _is_card(groups[i : i + n])), 0
            )
            if i:
                out.append(parts[2 * i - 1])
            if size:
                counts["card"] += 1
                out.append(placeholder("card"))
                i += size
            else:
                out.append(groups[i])
                i += 1
        return "".join(out)

    return repl


def _header_kind(m: re.Match[str]) -> str:
    scheme = m.group("scheme")
    return (scheme or m.group("name")).lower().replace("-", "_")


def _kv_kind(m: re.Match[str]) -> str | None:
    name = m.group("name").lower().replace("-", "_").replace(".", "_")
    if name.endswith("token") and m.group(0).rstrip()[-1:].isdigit() and len(name) > 5:
        value = m.group(0)[len(m.group("keep")) :]
        if value.isdigit():  # ``max_tokens=4000``, ``prompt_token=12``: counts, not secrets
            return None
    for word, kind in _KV_NAMES.items():
        if name == word or name.endswith("_" + word):
            return kind
    return "secret"


# Gates: a cheap necessary condition per pattern (a literal every match contains, the
# separator it needs, or its minimum length). A text that fails a pattern's gate cannot match
# it, so the regex is not run: most evidence strings (label names and values, span names,
# timestamps) fail every gate, and the result is the same as running every pattern.
# ``tests/unit/test_redact_gates.py`` checks each gate against its pattern.
Gate = Callable[[str], bool]
_KV_HINT = re.compile(r"(?i:secret|key|token|credential|pass|pwd|sig)")  # in every _KV name
_KV_WORDS = ("secret", "key", "token", "credential", "pass", "pwd", "sig")
_HEADER_HINT = re.compile(r"(?i:authorization|cookie|api-key|auth-token|security-token)")
_HEADER_WORDS = ("authorization", "cookie", "api-key", "auth-token", "security-token")


def _has_word(text: str, words: tuple[str, ...], hint: re.Pattern[str]) -> bool:
    """Whether ``text`` contains one of ``words`` ignoring case, as ``hint`` (the same words
    under ``(?i:...)``) decides. ASCII text takes the fast path: ``lower()`` folds ASCII exactly
    as the regex does; other text keeps the regex, whose case folding also matches e.g. the
    Kelvin sign and the long s."""
    if text.isascii():
        low = text.lower()
        return any(w in low for w in words)
    return hint.search(text) is not None


def _kv_gate(text: str) -> bool:
    return ("=" in text or ":" in text) and _has_word(text, _KV_WORDS, _KV_HINT)


def _header_gate(text: str) -> bool:
    return ("=" in text or ":" in text) and _has_word(text, _HEADER_WORDS, _HEADER_HINT)


def _min_len(n: int) -> Gate:
    return lambda text: len(text) >= n


def _has(*literals: str) -> Gate:
    return lambda text: all(lit in text for lit in literals)


# (pattern, gate, kind) in the order they apply; cards and e-mail addresses come last
_STEPS: tuple[tuple[re.Pattern[str], Gate, Callable[[re.Match[str]], str | None]], ...] = (
    (_PEM, _has("-----BEGIN "), lambda m: "private_key"),
    (_JWT, _has("eyJ"), lambda m: "jwt"),
    (_URL_PASSWORD, _has("://", "@"), lambda m: "password"),
    (_WEBHOOK_URL, _has("://"), lambda m: "webhook_url"),
    (_HEADER, _header_gate, _header_kind),
    (_AUTH_SCHEME, _min_len(14), lambda m: m.group("scheme").lower()),  # Token + " " + 8
    (_API_KEY, _min_len(15), lambda m: "api_key"),  # shortest: ``xox?-``/``xapp-`` + 10
    (_KV, _kv_gate, _kv_kind),
    (_AWS_SECRET, _min_len(40), lambda m: "aws_secret"),
)
_CARD_GATE = _min_len(13)  # 13 digits
_EMAIL_GATE = _has("@")


def redact(text: str, *, emails: bool = False) -> Redacted:
    """Replace every secret in ``text`` by a typed placeholder; count them per type."""
    counts: Counter[str] = Counter()
    if not text:
        return Redacted(text, {})
    out = text if type(text) is str else str.__str__(text)  # a str, as ``re.sub`` returns
    for pattern, gate, kind in _STEPS:
        if gate(out):
            out = _sub(pattern, out, counts, kind)
    if _CARD_GATE(out):
        out = _CARD.sub(_card_repl(counts), out)
    if emails and _EMAIL_GATE(out):
        out = _sub(_EMAIL, out, counts, lambda m: "email")
    return Redacted(out, dict(counts))


_LEAVES = frozenset({float, int, bool, type(None), datetime})  # nothing to redact inside


@dataclass
class Redactor:
    """Accumulates counts over many texts (one per investigation)."""

    emails: bool = False
    counts: Counter[str] = field(default_factory=Counter)

    def text(self, text: str) -> str:
        r = redact(text, emails=self.emails)
        if r.counts:
            self.counts.update(r.counts)
        return r.text

    def tree(self, obj: object) -> object:
        """Redact every string inside nested dicts/lists/tuples (keys included)."""
        return self._tree(obj, {})

    def mapping(self, obj: Mapping[str, object]) -> dict[str, object]:
        memo: dict[str, Redacted] = {}
        return {self._memo_text(str(k), memo): self._tree(v, memo) for k, v in obj.items()}

    def _tree(self, obj: object, memo: dict[str, Redacted]) -> object:
        # exact types first (what ``model_dump`` builds): ``isinstance(obj, Mapping)`` is slow
        if type(obj) is str:
            return self._memo_text(obj, memo)
        if type(obj) is dict:
            return {self._memo_text(str(k), memo): self._tree(v, memo) for k, v in obj.items()}
        if type(obj) is list or type(obj) is tuple:
            return [self._tree(v, memo) for v in obj]
        if type(obj) in _LEAVES:  # metric samples: thousands of floats per bundle
            return obj
        if isinstance(obj, str):
            return self._memo_text(obj, memo)
        if isinstance(obj, Mapping):
            return {self._memo_text(str(k), memo): self._tree(v, memo) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self._tree(v, memo) for v in obj]
        return obj

    def _memo_text(self, text: str, memo: dict[str, Redacted]) -> str:
        """``text`` for one walk: a bundle repeats the same keys and label values thousands of
        times, so each distinct string is redacted once (``redact`` is pure); the counts still
        grow once per occurrence, as if each were redacted. The memo lives for one walk only."""
        r = memo.get(text)
        if r is None:
            r = memo[text] = redact(text, emails=self.emails)
        if r.counts:
            self.counts.update(r.counts)
        return r.text

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


_PLACEHOLDER = re.compile(r"\[REDACTED:([a-z0-9_]+)\]")


def placeholder_counts(text: str) -> dict[str, int]:
    """How many placeholders of each kind ``text`` holds (what a prompt carries redacted)."""
    return dict(sorted(Counter(_PLACEHOLDER.findall(text)).items()))


def redact_model(model: M, redactor: Redactor) -> M:
    """A copy of a pydantic model with every string inside (keys included) redacted.

    Used where untrusted text enters (alerts and deploys at intake, the evidence bundle after
    the evidence stage), so storage, notes, prompts and logs only ever see the redacted copy.
    """
    return type(model).model_validate(redactor.tree(model.model_dump(mode="python")))


def redact_models(models: Sequence[M], redactor: Redactor) -> list[M]:
    """``redact_model`` over several models in one walk: the alerts of one notification share
    most labels, annotations and the generator URL, and each distinct string is redacted once
    (the counts are per occurrence, as with one call per model)."""
    memo: dict[str, Redacted] = {}
    return [
        type(m).model_validate(redactor._tree(m.model_dump(mode="python"), memo)) for m in models
    ]
