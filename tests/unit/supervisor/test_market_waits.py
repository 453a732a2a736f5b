"""MARKET_DATA=bus without NATS: the passes over slices give the answers of the whole stored series.

The supervisor's bookkeeping (supervisor/market_waits.py) and the real worker input path
(worker.process.IntentProcessor) play a stream of quotes and intents in stored order,
with the workers' answers coming back late by a random number of messages, as they do
in the service. Every intent's events must equal, byte for byte, those of one pass over
the whole series (what `replay` prices from): resting orders found by the watch,
partial fills over later quotes, expiries, stops, closed sessions included, and across a
restart of the supervisor whose new reader reads an intent's older history from the stream.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config import load_settings
from common.market_files import QUOTES, TRADES, RecordedMarketData
from common.market_messages import record_of_price
from common.market_records import QuoteRecord
from common.messages import AwaitingMarket, Execution, MarketWatch, RawIntent, Rejection
from supervisor.market_waits import SLICE_AHEAD_RECORDS, MarketWaits, crosses, intent_instrument
from tests.builders import VALIDATORS, assert_valid
from tools import sample_intents as si
from worker.events import iso_ms
from worker.market_slice import slice_bytes
from worker.process import IntentProcessor
from worker.quote_tape import QuoteTape, records_bytes
from worker.recorded_market import MarketNotKnown, RecordedMarket
from worker.synthetic_market import SyntheticMarket

# Friday 2024-01-12 21:00 UTC, an hour before the forex week closes: sessions end inside the tapes.
T0 = 1_705_093_200_000
KEY = "EURUSD"
EURUSD = load_settings({}).instruments.get(KEY)

_ORDERS = st.sampled_from([
    ("market", None, None), ("limit", "GTC", None), ("limit", "DAY", None), ("limit", "IOC", None),
    ("stop", "GTC", None), ("stop_limit", "GTC", None), ("limit", "GTC", "partial")])


def _bus_settings(sessions: bool, liquidity: str) -> object:
    return load_settings({"SIMULATION_SEED": "bus-slices", "MARKET_DATA": "bus", "MARKET_DATA_MAX_AGE_MS": "20000",
                          "SIMULATION_MARKET_SESSIONS": "on" if sessions else "off",
                          "SIMULATION_LIQUIDITY_SHARE": liquidity, "SIMULATION_GTC_HORIZON_DAYS": "1",
                          "SIMULATION_MIN_DELAY_MS": "0", "SIMULATION_MAX_DELAY_MS": "3000"})


@st.composite
def _streams(draw: st.DrawFn) -> tuple[list[tuple[int, object]], list[QuoteRecord]]:
    """Stored messages in order: ("quote", record) and ("intent", raw); and the quotes alone."""
    at, mid, messages, quotes = T0, 1.1000, [], []
    for _ in range(draw(st.integers(0, 60))):
        at += draw(st.integers(0, 90_000) | st.integers(0, 50))
        if draw(st.booleans()) or not quotes:
            mid = round(mid * (1 + draw(st.integers(-30, 30)) / 10_000), 5)
            spread = draw(st.integers(0, 4)) / 100_000
            sizes = (draw(st.integers(0, 3_000)), draw(st.integers(0, 3_000)))
            record = QuoteRecord(at, round(mid - spread, 5), round(mid + spread, 5), *sizes,
                                 draw(st.integers(0, 10_000)))
            if draw(st.booleans()):  # a signals.normalized price a fraction of a tick off the mid, where levels sit
                record = record_of_price(mid + draw(st.integers(-12, 12)) / 1_000_000, EURUSD, at)
            quotes.append(record)
            messages.append((at, record))
        else:
            order_type, tif, force = draw(_ORDERS)
            corr = f"o{len(messages)}"
            body = si.intent(corr, instrument="EUR/USD", order_type=order_type, side=draw(st.sampled_from(["buy", "sell"])),
                             quantity=draw(st.sampled_from([1000, 250_000, 4_000_000])),
                             timestamp=iso_ms(at - draw(st.sampled_from([0, 1, 40, 2_000, 60_000, 200_000]))))
            level = round(mid * (1 + draw(st.integers(-40, 40)) / 10_000), 5)
            if order_type in ("limit", "stop_limit"):
                body["price"] = level
            if order_type in ("stop", "stop_limit"):
                body["stop_price"] = round(level * (1 + draw(st.integers(-20, 20)) / 10_000), 5)
            metadata = dict(body.get("metadata") or {})
            if tif:
                metadata["time_in_force"] = tif
            if force:
                metadata["exec_sim_force"] = {"outcome": "partial", "fill_ratio": 0.5}
            body["metadata"] = metadata
            messages.append((at, RawIntent(len(messages) + 1, si.encode(body), None, at)))
    return messages, quotes


def _whole_series(settings: object, quotes: list[QuoteRecord]) -> IntentProcessor:
    data = RecordedMarketData(((KEY, records_bytes(quotes)),), QUOTES, ())
    return IntentProcessor(dataclasses.replace(settings, market_data="synthetic", recorded_market=data),
                           settings.seed)


def _play(settings: object, messages: list[tuple[int, object]], lags: list[int], ahead: int = SLICE_AHEAD_RECORDS,
          restart: int | None = None, reads: int = 1, first_slices: bool = False) -> dict[int, object]:
    """The service's protocol: pass 1 bare, later passes with the slices the bookkeeping picks (at
    most `ahead` records past a pass's instant); each worker answer handed back after `lag` more
    stored messages. With `restart`, the supervisor dies before that message: what it held is
    lost, a new one starts reading there, every unanswered intent comes again, and their history
    is read from the stored records. The watermark moves after every `reads`-th stored message (the
    reader advances it once per read of the connection, after all its records). With `first_slices`,
    an intent's first dispatch comes after `lag` more stored messages (a backlog's), with a slice from
    its receipt on when the watermark is past it (MarketWaits.first_pass). Long because it is the
    service's whole protocol in one loop, which reads best in one place."""
    processor, max_age = IntentProcessor(settings, settings.seed), settings.market_data_max_age_ms
    waits = MarketWaits(max_age, ahead=ahead)
    stored = [(n + 1, m) for n, (_, m) in enumerate(messages) if isinstance(m, QuoteRecord)]
    answers: dict[int, object] = {}
    at_workers: deque[tuple[int, RawIntent]] = deque()
    fetched: deque[tuple[int, RawIntent]] = deque()  # with first_slices: not dispatched yet
    position = 0

    def later(raws: list[RawIntent], now: int) -> None:
        for raw in raws:
            at_workers.append((now + lags[(position + raw.stream_seq) % len(lags)], raw))
        while waits.history_wanted:  # the reader's history read: records from the instant less twice the age
            seq, _, at_ms, oldest = waits.history_wanted.pop()
            history = [(n, r) for n, r in stored if r.at_ms >= at_ms - 2 * max_age and (oldest is None or n < oldest)]
            later(waits.with_history(seq, at_ms, history), now)

    def dispatch_due(now: int, drain: bool = False) -> None:
        while fetched and (drain or fetched[0][0] <= now):
            _, raw = fetched.popleft()
            key = intent_instrument(raw.body)
            later([(key and waits.first_pass(raw, key)) or raw], now)

    def run_due(now: int, drain: bool = False) -> None:
        while at_workers and (drain or at_workers[0][0] <= now):
            _, raw = at_workers.popleft()
            outcome = processor.process(raw)
            if isinstance(outcome, AwaitingMarket):
                later(waits.wait(outcome), now)
            else:
                answers.setdefault(raw.stream_seq, outcome)

    for at, message in messages:
        position += 1
        if position == restart:
            waits, _, _ = MarketWaits(max_age, at, ahead), at_workers.clear(), fetched.clear()
            later([m for _, m in messages[:position - 1] if isinstance(m, RawIntent) and m.stream_seq not in answers],
                  position)
        if isinstance(message, QuoteRecord):
            waits.record(KEY, message, position)
            if position % reads == 0:
                later(waits.advance(at), position)
        else:  # an intent is not market data: it never moves the watermark
            if first_slices:
                fetched.append((position + lags[position % len(lags)], message))
            else:
                later([message], position)
        dispatch_due(position)
        run_due(position)
    end = messages[-1][0] if messages else T0
    for tick in range(1, 200):  # the watermark ticks on a quiet bus, far enough for every expiry
        position += 1
        dispatch_due(position, drain=True)
        later(waits.advance(end + tick * 3_600_000), position)
        run_due(position, drain=True)
        if not at_workers and not len(waits):
            break
    return answers


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=_streams(), lags=st.lists(st.integers(0, 5), min_size=1, max_size=8), sessions=st.booleans(),
       liquidity=st.sampled_from(["0", "0.05"]), ahead=st.sampled_from([0, 1, 3, SLICE_AHEAD_RECORDS]),
       restart=st.none() | st.integers(1, 70), reads=st.integers(1, 4), first_slices=st.booleans())
def test_property_passes_over_slices_price_as_the_whole_series_does(stream, lags, sessions, liquidity, ahead, restart,
                                                                     reads, first_slices):
    messages, quotes = stream
    bus = _bus_settings(sessions, liquidity)
    answers = _play(bus, messages, lags, ahead, restart, reads, first_slices)
    whole = _whole_series(bus, quotes)
    intents = [m for _, m in messages if isinstance(m, RawIntent)]
    assert sorted(answers) == sorted(raw.stream_seq for raw in intents)  # every intent answered, once
    for raw in intents:
        expected, got = whole.process(raw), answers[raw.stream_seq]
        if isinstance(expected, Rejection):
            assert got == expected
            continue
        assert isinstance(got, Execution) and isinstance(expected, Execution)
        assert got.events == expected.events, raw.body
        for event in got.events:
            assert_valid(VALIDATORS[event.kind], orjson.loads(event.payload))


def test_a_first_pass_asks_for_the_arrival_and_a_resting_limit_for_its_first_crossing():
    bus = _bus_settings(False, "0")
    processor = IntentProcessor(bus, bus.seed)
    body = si.intent("rest", instrument="EURUSD", order_type="limit", side="buy", quantity=1000,
                     timestamp=iso_ms(T0), price=1.0990, metadata={"time_in_force": "GTC"})
    raw = RawIntent(1, si.encode(body), None, T0)
    first = processor.process(raw)
    assert isinstance(first, AwaitingMarket) and first.instrument == KEY and first.watch is None
    assert first.need_ms >= T0 and first.raw.market is None
    quote = QuoteRecord(T0 - 1000, 1.0999, 1.1001, 5e6, 5e6)
    known_to_arrival = processor.process(dataclasses.replace(raw, market=slice_bytes(first.need_ms, [quote])))
    assert isinstance(known_to_arrival, AwaitingMarket)  # its search starts after the arrival: not known yet
    assert known_to_arrival.watch is None and known_to_arrival.need_ms == first.need_ms + 1
    second = processor.process(dataclasses.replace(raw, market=slice_bytes(first.need_ms + 10, [quote])))
    assert isinstance(second, AwaitingMarket) and second.need_ms > first.need_ms + 10
    assert second.watch == MarketWatch(1.0990, False, "ask")  # a buy limit waits for the ask to come down


@functools.cache
def _synthetic() -> SyntheticMarket:
    bus = _bus_settings(False, "0")
    return SyntheticMarket(bus.seed, bus.instruments, False)


@settings(max_examples=150, deadline=None)
@given(offsets=st.lists(st.integers(-80, 80), min_size=1, max_size=30), level_tenths=st.integers(-9, 9),
       above=st.booleans(), side=st.sampled_from(["bid", "ask"]))
def test_property_a_price_only_watch_wakes_the_order_at_every_record_its_exact_search_would_accept(
        offsets, level_tenths, above, side):
    # Mids (trades) within a unit of the mid level of a bid or ask level on and off the 6-decimal
    # grid. The bus gives a pass quotes (signals are put on the tick grid as they are read), but a
    # price-only pass's watch, if one is raised, must let the supervisor's test (crosses) through
    # at every record the worker's exact search accepts, or live and replay could differ.
    level = round(1.1 + level_tenths * 1e-7, 7)
    base = level / (1 + 0.3 / 10_000 if side == "ask" else 1 - 0.3 / 10_000)
    records = [QuoteRecord(T0 + 1000 * (k + 1), base + o * 1e-8, base + o * 1e-8) for k, o in enumerate(offsets)]
    tapes = {KEY: QuoteTape.from_records(records)}
    synthetic = _synthetic()
    try:  # nothing known past T0: the search comes back as a watch
        RecordedMarket(tapes, TRADES, synthetic, 60_000, False, T0).first_crossing(KEY, T0, T0 + 10**6, level, above,
                                                                                    side)
        raise AssertionError("a search past what is known must come back as a watch")
    except MarketNotKnown as wanted:
        watch = wanted.watch
    assert watch is not None
    whole = RecordedMarket(tapes, TRADES, synthetic, 60_000, False)
    for record in records:
        value = getattr(whole.quote(KEY, record.at_ms), side)
        if value >= level if above else value <= level:
            assert crosses(record, watch), (record, watch)


def test_an_instrument_without_records_is_no_market_data_once_its_arrival_is_known():
    bus = _bus_settings(False, "0")
    processor = IntentProcessor(bus, bus.seed)
    raw = RawIntent(1, si.encode(si.intent("none", instrument="EURUSD", quantity=1000, timestamp=iso_ms(T0))), None, T0)
    first = processor.process(raw)
    assert isinstance(first, AwaitingMarket)
    final = processor.process(dataclasses.replace(raw, market=slice_bytes(first.need_ms, [])))
    assert isinstance(final, Execution)
    assert orjson.loads(final.events[0].payload)["metadata"]["reason_code"] == "no_market_data"


def test_the_bookkeeping_sends_a_watching_order_again_only_after_the_crossing_millisecond_is_complete():
    waits = MarketWaits(60_000)
    raw = RawIntent(9, b"{}", None, T0)
    waits.record(KEY, QuoteRecord(T0, 1.0999, 1.1001), 1)
    assert waits.advance(T0 + 10) == []
    assert waits.wait(AwaitingMarket(9, raw, KEY, T0 + 86_400_000, MarketWatch(1.0990, False, "ask"))) == []
    waits.record(KEY, QuoteRecord(T0 + 20, 1.0990, 1.0995), 2)  # no: the ask is above the limit
    assert waits.advance(T0 + 20) == []
    waits.record(KEY, QuoteRecord(T0 + 30, 1.0985, 1.0989), 3)  # crosses: ready once the millisecond is past
    assert waits.advance(T0 + 30) == []
    [again] = waits.advance(T0 + 31)
    assert again.stream_seq == 9 and again.market is not None
    assert waits.advance(T0 + 40) == []  # sent once


def test_an_intent_sent_long_after_its_instant_is_given_the_records_it_prices_from_not_every_one_since():
    waits = MarketWaits(60_000, ahead=4)
    for k in range(1_000):  # a record every 10 ms
        waits.record(KEY, QuoteRecord(T0 + 10 * k, 1.0999, 1.1001), k + 1)
    waits.advance(T0 + 10_000)
    raw = RawIntent(9, b"{}", None, T0 + 105)
    [again] = waits.wait(AwaitingMarket(9, raw, KEY, T0 + 105, None))
    known_until, tape = again.market[:8], again.market[8:]
    # the record in force at T0 + 105 (T0 + 100) and four after it, known up to the fifth's millisecond
    # less one; and, as for any first pass, the first record held (the one after "nothing known")
    assert int.from_bytes(known_until, "little", signed=True) == T0 + 149
    assert tape == records_bytes([QuoteRecord(T0 + 10 * k, 1.0999, 1.1001) for k in (0, *range(10, 15))])



@given(st.integers(1, 40), st.integers(-20, 500), st.integers(0, 3))
@settings(max_examples=60, deadline=None)
def test_a_slice_cut_from_the_tape_columns_is_the_records_given_packed_in_stream_order(count, sent_ms, ahead):
    # Every column distinct, sizes and volume too: a column out of place changes the bytes.
    waits = MarketWaits(60_000, ahead=ahead)
    recorded = {10 + 2 * k: QuoteRecord(T0 + 7 * k, 1.0 + k / 1000, 1.0005 + k / 1000, 100.0 + k, 200.0 + k, 3.0 * k)
                for k in range(count)}
    for seq, record in recorded.items():
        waits.record(KEY, record, seq)
    waits.advance(T0 + 7 * count + 1)
    raw = RawIntent(9, b"{}", None, T0 + sent_ms)
    first = waits.first_pass(raw, KEY)  # the first slice: cut from the columns, no record built
    passes = [] if first is None else [(first, dict(waits._waiting[9].records()))]
    # a later pass sent for a later instant: packed from the records given, built from the columns
    [again] = waits.wait(AwaitingMarket(9, raw, KEY, T0 + sent_ms + 30)) or waits.advance(T0 + sent_ms + 31)
    passes.append((again, waits._waiting[9].records()))
    for again, held in passes:
        assert held == {seq: recorded[seq] for seq in held}  # the tape gives back what it was given
        assert again.market[8:] == records_bytes([recorded[seq] for seq in sorted(held)])
        assert again == dataclasses.replace(raw, market=again.market)
