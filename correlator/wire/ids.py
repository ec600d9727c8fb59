"""Trace and span id normalisation: every boundary turns ids into lowercase hex.

The same trace id reaches us in three encodings (REFERENCE.md §1):

* full lowercase hex (Prometheus exemplars, Loki structured metadata, OTLP JSON ingest);
* hex with leading zeros stripped (Tempo ``/api/search``);
* standard base64 of the raw bytes (Tempo ``/api/traces`` and ``/api/v2/traces`` bodies).

Hex handed to a base64 decoder does not fail, it silently yields wrong bytes, so the encoding is
decided by alphabet and length, never by "try base64, else hex":

1. optional ``0x`` prefix removed, surrounding whitespace ignored;
2. only hex digits and at most 32 (span: 16) of them -> hex, left-padded with zeros;
3. otherwise, a base64 alphabet (standard or URL-safe, padding optional) decoding to exactly
   16 or 8 bytes (span: 8) -> those bytes as hex, left-padded;
4. anything else, and the all-zero id (invalid in OTel), raises ``ValueError``.

The one ambiguity: unpadded base64 made only of hex-alphabet characters (22 chars for a trace id)
is read as zero-stripped hex. Tempo always pads its base64, so this never happens on the wire.
"""

from __future__ import annotations

import base64
import binascii
import re

TRACE_ID_HEX_LEN = 32
SPAN_ID_HEX_LEN = 16

_HEX = re.compile(r"[0-9a-fA-F]+")
_B64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def _normalize(raw: str, hex_len: int, what: str) -> str:
    value = raw.strip()
    if value[:2] in ("0x", "0X") and _HEX.fullmatch(value[2:]):
        value = value[2:]  # only a hex prefix: base64 ids can start with "0x" too
    if not value:
        raise ValueError(f"empty {what}")
    if _HEX.fullmatch(value) and len(value) <= hex_len:
        out = value.lower().rjust(hex_len, "0")
    else:
        out = _from_base64(value, hex_len, what)
    if out.count("0") == hex_len:
        raise ValueError(f"all-zero {what} is invalid")
    return out


def _from_base64(value: str, hex_len: int, what: str) -> str:
    if not _B64.fullmatch(value):
        raise ValueError(f"{what} is neither hex nor base64: {value[:64]!r}")
    padded = value + "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64: {value[:64]!r}") from exc
    allowed = {hex_len // 2, 8}
    if len(raw) not in allowed:
        raise ValueError(f"{what} decodes to {len(raw)} bytes, expected {hex_len // 2}")
    return raw.hex().rjust(hex_len, "0")


def normalize_trace_id(raw: str) -> str:
    """32 lowercase hex chars from hex, zero-stripped hex or base64; ``ValueError`` otherwise."""
    return _normalize(raw, TRACE_ID_HEX_LEN, "trace id")


def normalize_span_id(raw: str) -> str:
    """16 lowercase hex chars from hex, zero-stripped hex or base64; ``ValueError`` otherwise."""
    return _normalize(raw, SPAN_ID_HEX_LEN, "span id")


def try_normalize_trace_id(raw: str | None) -> str | None:
    """Like ``normalize_trace_id`` but ``None`` for missing or invalid ids (lenient parsing)."""
    if not raw:
        return None
    try:
        return normalize_trace_id(raw)
    except ValueError:
        return None


def try_normalize_span_id(raw: str | None) -> str | None:
    """Like ``normalize_span_id`` but ``None`` for missing or invalid ids (lenient parsing)."""
    if not raw:
        return None
    try:
        return normalize_span_id(raw)
    except ValueError:
        return None


def trace_id_to_base64(trace_id: str) -> str:
    """Standard padded base64 of the 16 raw bytes (how Tempo's jsonpb writes ``traceId``)."""
    return base64.b64encode(bytes.fromhex(normalize_trace_id(trace_id))).decode("ascii")


def span_id_to_base64(span_id: str) -> str:
    """Standard padded base64 of the 8 raw bytes (how Tempo's jsonpb writes ``spanId``)."""
    return base64.b64encode(bytes.fromhex(normalize_span_id(span_id))).decode("ascii")


def strip_leading_zeros(hex_id: str) -> str:
    """Hex without leading zeros, as Tempo search returns ids (``"0"`` for an all-zero id)."""
    return hex_id.strip().lower().lstrip("0") or "0"
