"""Trace/span id normalisation (REFERENCE.md §1): hex, zero-stripped hex and base64."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from correlator.wire.ids import (
    normalize_span_id,
    normalize_trace_id,
    span_id_to_base64,
    strip_leading_zeros,
    trace_id_to_base64,
    try_normalize_trace_id,
)

# The Tempo push-spans doc trace: pushed as hex, returned by /api/v2/traces as base64.
HEX = "5b8efff798038103d269b633813fc700"
B64 = "W47/95gDgQPSabYzgT/HAA=="


def test_base64_from_tempo_docs_decodes_to_the_pushed_hex() -> None:
    assert normalize_trace_id(B64) == HEX
    assert normalize_span_id("7uGbfsPBsQA=") == "eee19b7ec3c1b100"


def test_uppercase_hex_is_never_fed_to_base64() -> None:
    # Tempo's own fixture tempopb_trace_v1_batches_hexids.json: jsonpb would decode this as
    # base64 into 24 garbage bytes; we must read it as hex.
    assert normalize_trace_id("5B8EFFF798038103D269B633813FC60C") == (
        "5b8efff798038103d269b633813fc60c"
    )


def test_zero_stripped_search_id_is_padded() -> None:
    assert normalize_trace_id("2f3e0cee77ae5dc9c17ade3689eb2e54"[1:]) == (
        "0f3e0cee77ae5dc9c17ade3689eb2e54"[1:].rjust(32, "0")
    )
    assert normalize_trace_id("abc") == "0" * 29 + "abc"
    assert normalize_span_id("1") == "0" * 15 + "1"


def test_url_safe_and_unpadded_base64() -> None:
    raw = bytes.fromhex("fbff" * 8)
    assert normalize_trace_id(base64.urlsafe_b64encode(raw).decode()) == "fbff" * 8
    assert normalize_trace_id(base64.b64encode(raw).decode().rstrip("=")) == "fbff" * 8


def test_64bit_base64_trace_id_is_left_padded() -> None:
    assert normalize_trace_id(base64.b64encode(bytes.fromhex("00ff" * 4)).decode()) == (
        "0" * 16 + "00ff" * 4
    )


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "0" * 32, "AAAAAAAAAAAAAAAAAAAAAA==", "zz-not-an-id!", "a" * 33 + "==", "0x"],
)
def test_invalid_ids_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_trace_id(bad)
    assert try_normalize_trace_id(bad) is None


def test_hex_longer_than_a_trace_id_is_rejected_not_base64_decoded() -> None:
    with pytest.raises(ValueError):
        normalize_trace_id("ab" * 20)


def test_0x_prefix_and_whitespace() -> None:
    assert normalize_trace_id(f" 0x{HEX.upper()} ") == HEX


def test_strip_leading_zeros() -> None:
    assert strip_leading_zeros("000abc") == "abc"
    assert strip_leading_zeros("0000") == "0"


trace_bytes = st.binary(min_size=16, max_size=16).filter(lambda b: any(b))
span_bytes = st.binary(min_size=8, max_size=8).filter(lambda b: any(b))


@given(trace_bytes)
def test_every_encoding_of_a_trace_id_normalises_to_the_same_hex(raw: bytes) -> None:
    hex_id = raw.hex()
    assert normalize_trace_id(hex_id) == hex_id
    assert normalize_trace_id(hex_id.upper()) == hex_id
    assert normalize_trace_id(strip_leading_zeros(hex_id)) == hex_id
    assert normalize_trace_id(base64.b64encode(raw).decode()) == hex_id
    assert normalize_trace_id(trace_id_to_base64(hex_id)) == hex_id
    assert trace_id_to_base64(hex_id) == base64.b64encode(raw).decode()


@given(span_bytes)
def test_every_encoding_of_a_span_id_normalises_to_the_same_hex(raw: bytes) -> None:
    hex_id = raw.hex()
    assert normalize_span_id(hex_id.upper()) == hex_id
    assert normalize_span_id(strip_leading_zeros(hex_id)) == hex_id
    assert normalize_span_id(base64.b64encode(raw).decode()) == hex_id
    assert normalize_span_id(span_id_to_base64(hex_id)) == hex_id


@given(st.text(max_size=40))
def test_normalisation_never_crashes_and_is_idempotent(raw: str) -> None:
    out = try_normalize_trace_id(raw)
    if out is not None:
        assert len(out) == 32
        assert out == out.lower()
        assert normalize_trace_id(out) == out


def test_base64_starting_with_0x_is_not_mistaken_for_a_hex_prefix() -> None:
    raw = b"\xd3\x10" + b"\x00" * 14  # base64 "0xAAAA...==" (found by hypothesis in CI)
    encoded = base64.b64encode(raw).decode()
    assert encoded.startswith("0x")
    assert normalize_trace_id(encoded) == raw.hex()
    assert normalize_trace_id("0x" + raw.hex()) == raw.hex()
