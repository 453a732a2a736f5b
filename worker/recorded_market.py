"""The recorded market view: fills priced from a loaded file's quote tapes (MARKET_DATA=file).

Runs in the pool's worker processes (and in `replay`), built by the simulator when
Settings.recorded_market is set. Pure: the tapes come as bytes in the settings
(supervisor/market_file.py read the file), and are read back without a copy.
Owns the MarketView answers from recorded records: the quote in force at t (the
last record at or before t, no look-ahead, fresh within MARKET_DATA_MAX_AGE_MS),
the next instant and the first crossing from the tape. Reference data, decimals
and trading sessions come from the synthetic view it holds, as do the prices of
an instrument with no record in force when MARKET_DATA_FALLBACK=synthetic.

Price-only records (trades, bars) are mids: the instruments file's spread is put
around them (rounded to the mid's decimals), and the touch is the instruments file's
touch_depth; quotes without sizes get that touch too. A search for a bid or ask level
over them finds the first record whose side, rounded as quote() rounds it, reaches
the level (not the unrounded side, which could be a record early or late). Bars are priced at the first print after an arrival
(docs/market-data.md, "Bars and their fill convention"): pricing_instant moves an
order arriving inside a bar to the bar's end, where the next bar's open is in force;
a limit and a stop's trigger see the crossing record (the bar's low or high), and a
stop it triggers executes at the record in force after it (triggered_quote).

Under MARKET_DATA=bus the view holds one pass's slice (worker.market_slice) and knows
the market only up to `known_until_ms`: a question about a later instant raises
MarketNotKnown, which the worker returns as AwaitingMarket, never a guess.
"""

from __future__ import annotations

from dataclasses import replace

from common.instruments import Instrument, normalize
from common.market_files import BARS, QUOTES, RecordedMarketData
from common.messages import MarketWatch
from worker.events import NO_MARKET_DATA, iso_ms
from worker.market import Market, Quote
from worker.quote_tape import Exact, QuoteTape, first_hit, tape_from_bytes
from worker.synthetic_market import SyntheticMarket

# Where a quote came from under MARKET_DATA=bus or file (a fill's metadata.market_source).
RECORDED_SOURCE = "recorded"
SYNTHETIC_SOURCE = "synthetic"
# How old (in MARKET_DATA_MAX_AGE_MS) a record out of force may be and still be reported.
REPORTED_AGES = 2


class MarketNotKnown(Exception):
    """The answer depends on records not known yet: every record up to `need_ms`, or sooner the
    first one that crosses `watch` (a resting order's search that reached the end of the known)."""

    def __init__(self, need_ms: int, watch: MarketWatch | None = None) -> None:
        super().__init__(f"market data up to {need_ms} not known yet")
        self.need_ms = need_ms
        self.watch = watch


class RecordedMarket:
    """MarketView over one file's tapes, with the synthetic view for reference data and sessions."""

    def __init__(self, tapes: dict[str, QuoteTape], kind: str, synthetic: SyntheticMarket, max_age_ms: int,
                 fallback_synthetic: bool, known_until_ms: int | None = None) -> None:
        # tapes: by instrument key, of records of `kind` (QUOTES, TRADES, BARS). known_until_ms: the
        # bus's watermark, less a millisecond (None: a file, all known).
        self._tapes = tapes
        self._price_only = kind != QUOTES
        self._bars = kind == BARS
        self._synthetic = synthetic
        self._max_age_ms = max_age_ms
        self._fallback = fallback_synthetic
        # (instrument key, instant, record) of the last crossing found: the simulator looks at the
        # quote there next, and must see the crossing record even when a later record of the same
        # millisecond is in force (a bar's low and high print at its end, under its close).
        self._crossing: tuple[str, int, int] | None = None
        self._known_until = known_until_ms

    @classmethod
    def of_file(cls, data: RecordedMarketData, synthetic: SyntheticMarket, max_age_ms: int,
                fallback_synthetic: bool) -> RecordedMarket:
        """The view of a loaded file (MARKET_DATA=file), every record known."""
        tapes = {key: tape_from_bytes(raw, max_age_ms) for key, raw in data.tapes}
        return cls(tapes, data.kind, synthetic, max_age_ms, fallback_synthetic)

    def _known(self, at_ms: int) -> None:
        if self._known_until is not None and at_ms > self._known_until:
            raise MarketNotKnown(at_ms)

    @property
    def synthetic_market(self) -> Market:
        """The synthetic market behind the fallback (tests and tools read its quotes)."""
        return self._synthetic.market

    def _tape(self, instrument: str) -> QuoteTape | None:
        # A name given as its key (EURUSD) is found without normalize, asked several times a pass:
        # the keys are normalized, and normalize leaves a key as it is.
        tape = self._tapes.get(instrument)
        return tape if tape is not None else self._tapes.get(normalize(instrument))

    def _in_force(self, instrument: str, at_ms: int) -> tuple[QuoteTape, int] | None:
        tape = self._tape(instrument)
        i = None if tape is None else tape.index_at(at_ms)
        return None if tape is None or i is None else (tape, i)

    def _last_record(self, instrument: str, at_ms: int) -> tuple[QuoteTape, int] | None:
        """The last record at or before `at_ms` no older than REPORTED_AGES times the maximum age
        (what a rejection or an expiry with no record in force reports). Bounded, so a reader that
        holds only that far back (the bus after a restart) reports what a replay of the whole
        series reports."""
        tape = self._tape(instrument)
        last = -1 if tape is None else tape.count_through(at_ms) - 1
        if tape is None or last < 0 or at_ms - tape.time_of(last) > REPORTED_AGES * self._max_age_ms:
            return None
        return tape, last

    def _crossing_record(self, instrument: str, at_ms: int) -> tuple[QuoteTape, int] | None:
        """The crossing record found at `at_ms` by the last search, once."""
        crossing, self._crossing = self._crossing, None
        if crossing is None or crossing[:2] != (normalize(instrument), at_ms):
            return None
        return self._tapes[crossing[0]], crossing[2]

    def missing(self, instrument: str, at_ms: int) -> str | None:
        """Why the order has no market at `at_ms` (a rejection's reason); None when it has one
        (a record in force, or the synthetic fallback)."""
        self._known(at_ms)
        if self._fallback or self._in_force(instrument, at_ms) is not None:
            return None
        return (f"{NO_MARKET_DATA}: no record of {instrument} in force at {iso_ms(at_ms)} "
                f"(none within MARKET_DATA_MAX_AGE_MS={self._max_age_ms} before it)")

    def pricing_instant(self, instrument: str, at_ms: int) -> int:
        """The instant an order arriving at `at_ms` is priced at: itself, or under bars the first
        print after it (a bar is not known before it closes)."""
        tape = self._tape(instrument)
        if not self._bars or tape is None:
            return at_ms
        j = tape.count_through(at_ms)
        return tape.time_of(j) if j < len(tape) and tape.index_at(tape.time_of(j)) is not None else at_ms

    def instrument(self, instrument: str) -> Instrument:
        return self._synthetic.instrument(instrument)

    def decimals(self, instrument: str) -> int:
        return self._synthetic.decimals(instrument)

    def quote(self, instrument: str, at_ms: int) -> Quote:
        """The record in force. Without one: the synthetic quote under the fallback; else the last
        record up to twice the maximum age old (what a no_market_data rejection or an expiry
        reports), or, with none that recent, the synthetic quote (only a rejection reports it)."""
        self._known(at_ms)
        found = self._crossing_record(instrument, at_ms) or self._in_force(instrument, at_ms)
        if found is None and not self._fallback:
            found = self._last_record(instrument, at_ms)
        if found is None:
            return replace(self._synthetic.quote(instrument, at_ms), source=SYNTHETIC_SOURCE)
        return self._quote_of(instrument, *found)

    def triggered_quote(self, instrument: str, at_ms: int, seen: Quote) -> Quote:
        """Under bars the record in force at `at_ms` (the last of its millisecond: the next bar's open,
        or before a gap the bar's close), not the bar's high or low `seen` that triggered the order:
        the order executes after the bar. Else `seen`, a real quote or trade."""
        found = self._in_force(instrument, at_ms) if self._bars else None
        return seen if found is None else self._quote_of(instrument, *found)

    def _quote_of(self, instrument: str, tape: QuoteTape, i: int) -> Quote:
        """Record i of the instrument's tape as a quote (price-only records: the spread put around them)."""
        bid, ask, bid_size, ask_size, volume = tape.row(i)
        mid = (bid + ask) / 2  # the tape's mid column, as a float
        info = self.instrument(instrument)
        decimals = self.decimals(instrument)
        touch = info.touch_depth
        if self._price_only:
            bid, ask = price_only_touch(mid, info.spread_bps, decimals)
            return Quote(bid=bid, ask=ask, mid=mid, volume=volume, bid_size=touch, ask_size=touch, source=RECORDED_SOURCE)
        return Quote(bid=bid, ask=ask, mid=round(mid, decimals), volume=volume,
                     bid_size=bid_size or touch, ask_size=ask_size or touch, source=RECORDED_SOURCE)

    def next_instant_after(self, instrument: str, at_ms: int) -> int:
        # The next millisecond: several records may share the next record's time, and a search
        # from that time would see only the last of them (a bar's low and high share its end).
        if self._tape(instrument) is None:
            return self._synthetic.next_instant_after(instrument, at_ms)
        return at_ms + 1

    def first_crossing(self, instrument: str, start_ms: int, end_ms: int, level: float, above: bool,
                       side: str = "mid") -> int | None:
        tape = self._tape(instrument)
        if tape is None:
            return self._synthetic.first_crossing(instrument, start_ms, end_ms, level, above, side)
        exact = None
        if self._price_only and side != "mid":  # a level of the recorded mid, and the exact test of the side
            level, exact = self._mid_search(instrument, level, above, side)
            side = "mid"
        if start_ms >= end_ms:
            return None
        known_end = end_ms if self._known_until is None else min(end_ms, self._known_until + 1)
        if start_ms > known_end - 1:
            raise MarketNotKnown(start_ms)  # the record in force at the start is not known yet
        for opens, closes in self._synthetic.sessions(instrument).open_intervals(start_ms, known_end):
            found = tape.first_crossing(max(opens, start_ms), min(closes, known_end), level, above, side, exact)
            if found is not None:
                self._crossing = (normalize(instrument), found,
                                  _crossing_index(tape, found, level, above, side, exact))
                return found
        if known_end < end_ms:  # none among the known records: the first later one that crosses, or the end
            # Price-only: the widened mid level, so the supervisor wakes the order at every record
            # the exact test could accept; the pass then decides exactly.
            raise MarketNotKnown(end_ms, MarketWatch(level, above, side))
        return None

    def _mid_search(self, instrument: str, level: float, above: bool, side: str) -> tuple[float, Exact]:
        """A search of price-only records (mids) for the bid or ask `side` reaching `level`: the mid
        level, widened by one unit of the decimals quote() rounds the side to (every mid whose rounded
        side reaches the level is let through), and the exact test, the side as quote() prices it."""
        info, decimals = self.instrument(instrument), self.decimals(instrument)
        half = info.spread_bps / 20_000
        widened = level - 10.0**-decimals if above else level + 10.0**-decimals
        mid_level = widened / (1 + half) if side == "ask" else widened / (1 - half)
        at = 1 if side == "ask" else 0

        def exact(mid: float) -> bool:
            value = price_only_touch(mid, info.spread_bps, decimals)[at]
            return value >= level if above else value <= level

        return mid_level, exact

    def is_open(self, instrument: str, at_ms: int) -> bool:
        return self._synthetic.is_open(instrument, at_ms)

    def next_open(self, instrument: str, at_ms: int) -> int | None:
        return self._synthetic.next_open(instrument, at_ms)

    def first_open_between(self, instrument: str, start_ms: int, end_ms: int) -> int | None:
        return self._synthetic.first_open_between(instrument, start_ms, end_ms)

    def session_close(self, instrument: str, at_ms: int) -> int | None:
        return self._synthetic.session_close(instrument, at_ms)

    def closed_reason(self, instrument: str, at_ms: int) -> str:
        return self._synthetic.closed_reason(instrument, at_ms)


def price_only_touch(mid: float, spread_bps: float, decimals: int) -> tuple[float, float]:
    """The bid and ask around a price-only record's mid: the instruments file's spread, rounded to the
    mid's decimals (Python's round: what quote() prices and what a search's exact test asks)."""
    half = mid * spread_bps / 20_000
    return round(mid - half, decimals), round(mid + half, decimals)


def _crossing_index(tape: QuoteTape, at_ms: int, level: float, above: bool, side: str, exact: Exact | None) -> int:
    """The first record at `at_ms` whose side crosses (the record in force there when none does:
    the search counted it from an earlier start)."""
    first, stop = tape.count_before(at_ms), tape.count_through(at_ms)
    hit = first_hit(tape.values(side)[first:stop], level, above, exact)
    return first + hit if hit is not None else max(stop - 1, 0)
