"""Log template mining: masking, clustering, now vs baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from correlator.evidence import logmine
from correlator.models import TimeWindow
from tests.support.fake_sources import log_line

T0 = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
NOW = TimeWindow(start=T0, end=T0 + timedelta(minutes=20))
BASE = NOW.shift(-timedelta(minutes=20))


def test_mask_variable_parts() -> None:
    line = (
        'order 12345 failed for user "bob" from 10.0.0.12:8080 after 250ms '
        "trace=4bf92f3577b34da6a3ce929d0e0e4736 req=3fa85f64-5717-4562-b3fc-2c963f66afa6 "
        "ptr=0x7ffd at 2026-11-21T16:00:01.123Z"
    )
    assert logmine.mask(line) == (
        "order <num> failed for user <str> from <ip> after <dur> trace=<hex> req=<uuid> "
        "ptr=<hex> at <ts>"
    )


def test_mask_keeps_words_with_digits() -> None:
    assert logmine.mask("http2 upstream s3 error 503") == "http2 upstream s3 error <num>"


def _lines(texts: list[str], service: str = "cart") -> list:
    return [log_line(T0 + timedelta(seconds=i), t, service) for i, t in enumerate(texts)]


def test_new_template_flagged_and_counts_compared() -> None:
    baseline = _lines(["timeout talking to redis after 100ms"] * 3)
    now = _lines(
        ["timeout talking to redis after 250ms"] * 2
        + [
            f"could not charge card for order {i}: connection refused to 10.1.2.{i}"
            for i in range(5)
        ]
    )
    mined = logmine.mine(
        evidence_id="patterns:cart",
        service="cart",
        lines=now,
        baseline_lines=baseline,
        window=NOW,
        baseline=BASE,
    )
    assert mined.error_count == 7
    assert mined.baseline_error_count == 3
    first, second = mined.patterns
    assert first.template == "could not charge card for order <num>: connection refused to <ip>"
    assert (first.count, first.baseline_count, first.is_new) == (5, 0, True)
    assert len(first.samples) == 3
    assert first.samples[0].startswith("could not charge card")
    assert second.template == "timeout talking to redis after <dur>"
    assert (second.count, second.baseline_count, second.is_new) == (2, 3, False)


def test_drain_merges_lines_differing_in_one_word() -> None:
    now = _lines(["user alice logged out", "user bob logged out", "user carol logged out"])
    mined = logmine.mine(
        evidence_id="p", service="s", lines=now, baseline_lines=[], window=NOW, baseline=BASE
    )
    assert [(p.template, p.count) for p in mined.patterns] == [("user <*> logged out", 3)]


def test_unknown_baseline_flags_nothing_new() -> None:
    mined = logmine.mine(
        evidence_id="p",
        service="s",
        lines=_lines(["boom"]),
        baseline_lines=None,
        window=NOW,
        baseline=BASE,
    )
    assert mined.patterns[0].is_new is False


def test_level_from_metadata_or_text() -> None:
    a = log_line(T0, "something", "s", detected_level="ERROR")
    b = log_line(T0, "level=warn msg=slow", "s")
    assert logmine.line_level(a) == "error"
    assert logmine.line_level(b) == "warn"


def test_bounded_cluster_count() -> None:
    miner = logmine.Miner(max_clusters=10)
    for i in range(50):
        miner.add(log_line(T0, f"w{i} x{i} y{i} z{i}", "s"), baseline=False)
    assert len(miner.clusters) == 10


@given(st.lists(st.text(max_size=300), max_size=30), st.lists(st.text(max_size=300), max_size=30))
def test_mining_arbitrary_lines_never_fails_and_counts_add_up(
    now: list[str], base: list[str]
) -> None:
    mined = logmine.mine(
        evidence_id="p",
        service="s",
        lines=_lines(now),
        baseline_lines=_lines(base),
        window=NOW,
        baseline=BASE,
        max_patterns=1000,
    )
    assert sum(p.count for p in mined.patterns) == len(now)
    assert all(len(p.template) <= logmine.MAX_TEMPLATE for p in mined.patterns)


def test_json_lines_keep_their_message_words() -> None:
    # structured loggers write one JSON object per line: the quoted-string mask alone would
    # leave only the keys, so two different events would share one template
    a = '{"severity":"info","message":"Start list products","timestamp":"2026-11-21T16:00:01Z"}'
    b = '{"level":"error","ts":1.5,"msg":"dial tcp 10.0.0.7:5432: connection refused","n":3}'
    assert logmine.mask(a) == "message=Start list products severity=info timestamp=<ts>"
    assert logmine.mask(b) == "msg=dial tcp <ip>: connection refused level=error ts=<num> n=<num>"
    assert logmine.mask('{"a": [1, "x"]}') == "a=[<num>,<str>]"
    assert logmine.mask('{"broken": ') == "{<str>:"


def test_json_events_with_the_same_keys_are_separate_templates() -> None:
    def js(msg: str, i: int) -> str:
        return f'{{"severity":"info","pid":{i},"message":"{msg} for order {i}"}}'

    now = _lines([js("payment accepted", i) for i in range(3)] + [js("card declined", 9)])
    mined = logmine.mine(
        evidence_id="p", service="s", lines=now, baseline_lines=[], window=NOW, baseline=BASE
    )
    assert sorted((p.template, p.count) for p in mined.patterns) == [
        ("message=card declined for order <num> severity=info pid=<num>", 1),
        ("message=payment accepted for order <num> severity=info pid=<num>", 3),
    ]
