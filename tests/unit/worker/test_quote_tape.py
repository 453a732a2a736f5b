"""The checker of bad records (common/market_records.py), and the quote tape (worker/quote_tape.py):
the market view's questions for one instrument answered with no look-ahead, exactly against
brute-force scans of the records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.market_records import (
    BAD_RECORD_TYPES,
    CROSSED,
    NON_POSITIVE,
    OUT_OF_ORDER,
    QuoteRecord,
    RecordChecker,
    check_records,
)
from worker.market import Quote
from worker.quote_tape import QuoteTape, tape_bytes, tape_from_bytes


def rec(at_ms: int, bid: float, ask: float, size: float = 1.0, volume: float = 0.0) -> QuoteRecord:
    return QuoteRecord(at_ms, bid, ask, size, size, volume)


STEPS = [rec(1000, 99.0, 101.0, 5), rec(2000, 100.0, 102.0, 6, 3), rec(2000, 101.0, 103.0, 7, 4),
         rec(5000, 95.0, 97.0, 8)]


# -- the checker ------------------------------------------------------------------------------------

@pytest.mark.parametrize("record, reason", [
    (rec(1, 0.0, 1.0), NON_POSITIVE), (rec(1, 1.0, -1.0), NON_POSITIVE), (rec(1, math.nan, 1.0), NON_POSITIVE),
    (rec(1, 1.0, math.inf), NON_POSITIVE), (rec(1, 1.0, 2.0, size=-1), NON_POSITIVE),
    (rec(1, 1.0, 2.0, volume=-0.5), NON_POSITIVE), (rec(1, 1.0, 2.0, size=math.nan), NON_POSITIVE),
    (rec(1, 2.0, 1.0), CROSSED), (rec(1, 1.0, 1.0), None), (rec(1, 1.0, 2.0, size=0), None),
])
def test_the_checker_names_what_is_wrong_with_a_record(record: QuoteRecord, reason: str | None):
    assert RecordChecker().verdict(record) == reason


def test_records_out_of_order_are_counted_against_the_last_record_kept():
    records = [rec(100, 1, 2), rec(90, 1, 2), rec(200, 2, 1), rec(150, 1, 2), rec(100, 0, 2), rec(150, 1, 2),
               rec(300, 1, 2)]
    checked = check_records(records)
    # The crossed record at 200 was skipped, so 150 is not out of order; the same millisecond twice is kept.
    assert [r.at_ms for r in checked.kept] == [100, 150, 150, 300]
    assert checked.skipped == {NON_POSITIVE: 1, CROSSED: 1, OUT_OF_ORDER: 1}
    assert tuple(checked.skipped) == BAD_RECORD_TYPES


def test_a_tape_refuses_records_a_checker_would_not_keep():
    for bad in ([rec(2, 1, 2), rec(1, 1, 2)], [rec(1, 2, 1)], [rec(1, 0, 1)], [rec(1, 1, 2, size=-1)]):
        with pytest.raises(ValueError):
            QuoteTape.from_records(bad)
    with pytest.raises(ValueError):
        QuoteTape.from_records(STEPS, max_age_ms=-1)


# -- the quote in force -----------------------------------------------------------------------------

def test_the_quote_in_force_is_the_last_record_at_or_before_the_instant():
    tape = QuoteTape.from_records(STEPS)
    assert tape.quote(999) is None
    assert tape.quote(1000) == Quote(bid=99.0, ask=101.0, mid=100.0, volume=0.0, bid_size=5.0, ask_size=5.0)
    assert tape.quote(1999).bid == 99.0
    # Two records of the same millisecond: the last one is in force.
    assert tape.quote(2000) == Quote(bid=101.0, ask=103.0, mid=102.0, volume=4.0, bid_size=7.0, ask_size=7.0)
    assert tape.quote(10**12).bid == 95.0


def test_a_record_older_than_the_maximum_age_is_no_quote():
    tape = QuoteTape.from_records(STEPS, max_age_ms=500)
    assert tape.quote(1500).bid == 99.0
    assert tape.quote(1501) is None
    assert tape.index_at(5500) == 3 and tape.index_at(5501) is None
    assert QuoteTape.from_records([]).quote(0) is None


def test_the_next_instant_whose_quote_may_differ():
    tape = QuoteTape.from_records(STEPS, max_age_ms=500)
    assert tape.next_instant_after(0) == 1000
    assert tape.next_instant_after(1000) == 1501  # stale before the next record
    assert tape.next_instant_after(1600) == 2000
    assert tape.next_instant_after(5000) == 5501
    assert tape.next_instant_after(6000) == 6001  # nothing later known: any instant may bring a record
    assert QuoteTape.from_records(STEPS).next_instant_after(2000) == 5000


# -- the first crossing -----------------------------------------------------------------------------

@pytest.mark.parametrize("start, end, level, above, side, expected", [
    (0, 10_000, 103.0, True, "ask", 2000),  # the second record of 2000 reaches it
    (0, 10_000, 102.0, True, "ask", 2000),  # the first one already did
    (0, 2000, 102.0, True, "ask", None),  # the end is excluded
    (1500, 10_000, 100.0, True, "mid", 1500),  # the record in force at the start counts, at the start
    (2500, 10_000, 96.0, False, "mid", 5000),
    (0, 10_000, 95.0, False, "bid", 5000),
    (0, 10_000, 94.0, False, "bid", None),
    (3000, 3000, 0.0, True, "bid", None),
])
def test_first_crossing_examples(start: int, end: int, level: float, above: bool, side: str, expected: int | None):
    assert QuoteTape.from_records(STEPS, block=2).first_crossing(start, end, level, above, side) == expected


def test_a_stale_quote_in_force_at_the_start_does_not_cross():
    tape = QuoteTape.from_records(STEPS, max_age_ms=500)
    assert tape.first_crossing(6000, 10_000, 90.0, True, "bid") is None
    assert QuoteTape.from_records(STEPS).first_crossing(6000, 10_000, 90.0, True, "bid") == 6000


@pytest.mark.parametrize("block", [1, 2, 3, 1024])
def test_a_search_with_an_exact_test_goes_on_past_the_values_it_refuses(block: int):
    # The level lets 5, 6 and 7 through; the exact test refuses 5 and 6 (a price-only view's
    # rounding): the first record it accepts is the answer, in force at the start or found later.
    prices = [5.0, 1.0, 6.0, 5.0, 2.0, 6.0, 7.0, 5.0, 7.0]
    tape = QuoteTape.from_records([rec(1000 * (k + 1), p, p) for k, p in enumerate(prices)], block=block)
    sevens = lambda value: value >= 7.0  # noqa: E731
    assert tape.first_crossing(1000, 20_000, 5.0, True, "mid", sevens) == 7000
    assert tape.first_crossing(7500, 20_000, 5.0, True, "mid", sevens) == 7500  # in force at the start
    assert tape.first_crossing(1000, 7000, 5.0, True, "mid", sevens) is None
    assert tape.first_crossing(1000, 20_000, 5.0, True, "mid", lambda value: False) is None
    assert tape.first_crossing(1000, 20_000, 5.0, True, "mid") == 1000


def test_a_side_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        QuoteTape.from_records(STEPS).first_crossing(0, 1, 1.0, True, "last")


def test_a_shared_memory_view_is_used_as_it_is():
    times = np.array([1, 2, 3], dtype=np.int64)
    bid = np.array([1.0, 2.0, 3.0])
    tape = QuoteTape(times, bid, bid + 1, np.ones(3), np.ones(3), np.zeros(3))
    assert tape.times is times and tape.values("bid") is bid and tape.first_crossing(0, 10, 3.0, True, "bid") == 3


# -- bytes between processes ------------------------------------------------------------------------

def test_a_tape_passed_as_bytes_answers_alike():
    tape = QuoteTape.from_records(STEPS, max_age_ms=500)
    data = tape_bytes(tape)
    assert len(data) == 8 + 48 * len(STEPS)
    copy = tape_from_bytes(data, max_age_ms=500)
    for at in range(0, 7000, 250):
        assert copy.quote(at) == tape.quote(at) and copy.next_instant_after(at) == tape.next_instant_after(at)
    assert copy.first_crossing(0, 10_000, 103.0, True, "ask") == 2000
    with pytest.raises(ValueError):
        copy.values("bid")[0] = 1.0  # views of the bytes, never written
    assert len(tape_from_bytes(tape_bytes(tape, 3, 3))) == 0


@pytest.mark.parametrize("data", [b"", b"QT1", b"XXXX" + bytes(4), tape_bytes(QuoteTape.from_records(STEPS))[:-1],
                                  tape_bytes(QuoteTape.from_records(STEPS)) + b"\0"])
def test_bytes_that_are_not_a_tape_are_refused(data: bytes):
    with pytest.raises(ValueError):
        tape_from_bytes(data)


def test_bytes_holding_records_no_checker_would_keep_are_refused():
    data = bytearray(tape_bytes(QuoteTape.from_records([rec(1, 1.0, 2.0)])))
    data[8 + 8:8 + 16] = np.array([3.0]).tobytes()  # the bid above the ask
    with pytest.raises(ValueError):
        tape_from_bytes(bytes(data))


# -- properties against brute force -----------------------------------------------------------------

@st.composite
def tapes(draw: st.DrawFn) -> tuple[list[QuoteRecord], int | None, int]:
    count = draw(st.integers(0, 60))
    gaps = draw(st.lists(st.integers(0, 40), min_size=count, max_size=count))  # 0: the same millisecond
    records, at = [], draw(st.integers(0, 100))
    for gap in gaps:
        at += gap
        bid = draw(st.integers(1, 30)) / 4
        records.append(QuoteRecord(at, bid, bid + draw(st.integers(0, 8)) / 4, float(draw(st.integers(0, 9))),
                                   float(draw(st.integers(0, 9))), float(draw(st.integers(0, 99)))))
    max_age = draw(st.one_of(st.none(), st.integers(0, 60)))
    return records, max_age, draw(st.integers(1, 8))


def brute_index(records: list[QuoteRecord], at_ms: int, max_age: int | None) -> int | None:
    found = None
    for i, r in enumerate(records):
        if r.at_ms <= at_ms:
            found = i
    if found is None or (max_age is not None and at_ms - records[found].at_ms > max_age):
        return None
    return found


def side_of(record: QuoteRecord, side: str) -> float:
    return {"bid": record.bid, "ask": record.ask, "mid": (record.bid + record.ask) / 2}[side]


def brute_crossing(records: list[QuoteRecord], start: int, end: int, level: float, above: bool, side: str,
                   max_age: int | None) -> int | None:
    def crosses(r: QuoteRecord) -> bool:
        return side_of(r, side) >= level if above else side_of(r, side) <= level
    if start >= end:
        return None
    i = brute_index(records, start, max_age)
    if i is not None and crosses(records[i]):
        return start
    return next((r.at_ms for r in records if start < r.at_ms < end and crosses(r)), None)


@settings(max_examples=300, deadline=None)
@given(tapes(), st.integers(0, 2500), st.integers(0, 400), st.integers(1, 40), st.booleans(),
       st.sampled_from(["bid", "ask", "mid"]))
def test_first_crossing_equals_a_brute_force_scan(tape_data, start, span, level_quarters, above, side):
    records, max_age, block = tape_data
    tape = QuoteTape.from_records(records, max_age, block)
    level = level_quarters / 4
    assert tape.first_crossing(start, start + span, level, above, side) == brute_crossing(
        records, start, start + span, level, above, side, max_age)


@settings(max_examples=300, deadline=None)
@given(tapes(), st.integers(0, 2500))
def test_the_quote_at_an_instant_is_never_a_record_after_it(tape_data, at_ms):
    records, max_age, block = tape_data
    tape = QuoteTape.from_records(records, max_age, block)
    i = tape.index_at(at_ms)
    assert i == brute_index(records, at_ms, max_age)
    if i is not None:
        assert records[i].at_ms <= at_ms
        assert tape.quote(at_ms) == Quote(bid=records[i].bid, ask=records[i].ask,
                                          mid=(records[i].bid + records[i].ask) / 2, volume=records[i].volume,
                                          bid_size=records[i].bid_size, ask_size=records[i].ask_size)


@settings(max_examples=200, deadline=None)
@given(tapes(), st.integers(0, 2500), st.integers(1, 40), st.booleans(), st.sampled_from(["bid", "ask", "mid"]))
def test_records_stored_later_change_no_earlier_answer(tape_data, cut, level_quarters, above, side):
    """No look-ahead: what the tape says about instants before `cut` is the same whether or not the
    records from `cut` on are in it yet (the live tape grows; the recorded one is whole)."""
    records, max_age, block = tape_data
    known = QuoteTape.from_records([r for r in records if r.at_ms < cut], max_age, block)
    whole = QuoteTape.from_records(records, max_age, block)
    for at in range(max(cut - 50, 0), cut):
        assert known.index_at(at) == whole.index_at(at)
    start = max(cut - 200, 0)
    assert known.first_crossing(start, cut, level_quarters / 4, above, side) == whole.first_crossing(
        start, cut, level_quarters / 4, above, side)


@settings(max_examples=200, deadline=None)
@given(tapes(), st.integers(0, 2500))
def test_the_quote_holds_until_the_next_instant_that_may_change_it(tape_data, at_ms):
    records, max_age, block = tape_data
    tape = QuoteTape.from_records(records, max_age, block)
    following = tape.next_instant_after(at_ms)
    assert following > at_ms
    assert all(tape.index_at(x) == tape.index_at(at_ms) for x in range(at_ms, min(following, at_ms + 200)))


@settings(max_examples=150, deadline=None)
@given(tapes(), st.data())
def test_a_slice_passed_as_bytes_answers_like_the_whole_tape_within_it(tape_data, data):
    """What the supervisor hands a worker: the records from the one in force at an instant on."""
    records, max_age, block = tape_data
    whole = QuoteTape.from_records(records, max_age, block)
    if not records:
        return
    first = data.draw(st.integers(0, len(records) - 1))
    part = tape_from_bytes(tape_bytes(whole, first), max_age, block)
    for at in range(records[first].at_ms, records[-1].at_ms + 70):
        expected = whole.index_at(at)
        assert part.index_at(at) == (None if expected is None else expected - first)
