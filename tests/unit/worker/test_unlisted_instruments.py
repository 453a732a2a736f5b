"""Instruments the file does not list: what they cost a worker is bounded in bytes, and the operator
may refuse them (SIMULATION_UNLISTED_INSTRUMENTS=reject)."""

from __future__ import annotations

import tracemalloc

from common.config import load_settings
from common.error_codes import INSTRUMENT_NOT_LISTED
from common.instruments import load_instruments
from common.messages import Execution, RawIntent, Rejection
from tools import sample_intents as si
from worker.brownian_path import BRIDGE_LEVELS
from worker.market import UNLISTED_MAX_NODES, UNLISTED_PATH_BYTES, Market
from worker.process import IntentProcessor
from worker.rejections import UNLISTED_INSTRUMENT

BOOK = load_instruments()
T0 = 1_768_226_400_000  # 2026-01-12T14:00:00Z
HOUR_MS = 3_600_000
MB = 1024 * 1024


def _quote_everywhere(market: Market, name: str, times: int) -> None:
    """Quotes far apart in time: each stretch adds nodes to the path's memo."""
    for k in range(times):
        market.quote(name, T0 + k * 97 * HOUR_MS)


def _block_bytes(market: Market) -> int:
    return sum(array.nbytes for entry in market._blocks.values() for array in entry if array is not None)


def _growth(unlisted_cache_bytes: int, names: list[str], times: int) -> tuple[Market, int]:
    """A market and the bytes it holds after quoting `names` beyond what it held before, its shared
    block cache (bounded on its own, MAX_BLOCKS) and per-step quote cache left out."""
    tracemalloc.start()  # before anything is built: what the caches drop later is counted as freed
    try:
        market = Market(b"seed", BOOK, unlisted_cache_bytes=unlisted_cache_bytes)
        for n in range(40):  # the shared block cache to its bound first
            _quote_everywhere(market, f"WARM{n}", 20)
        market._quotes.clear()
        before, blocks_before = tracemalloc.get_traced_memory()[0], _block_bytes(market)
        for name in names:
            _quote_everywhere(market, name, times)
        market._quotes.clear()
        return market, tracemalloc.get_traced_memory()[0] - before - (_block_bytes(market) - blocks_before)
    finally:
        tracemalloc.stop()


def test_one_unlisted_path_holds_at_most_its_share_however_much_it_is_quoted():
    market, grown = _growth(32 * MB, ["ZZONE"], 200)
    assert len(market.path("ZZONE").own.nodes) <= UNLISTED_MAX_NODES + 2 * BRIDGE_LEVELS
    assert 0 < grown <= UNLISTED_PATH_BYTES, grown


def test_unlisted_names_cost_a_worker_no_more_than_its_budget():
    budget = 1 * MB
    # Twenty times as many names as the budget holds, each quoted in several stretches of time:
    # unbounded, they take about 5.5 MB (about 28 KB each).
    _, grown = _growth(budget, [f"ZZ{n:05d}" for n in range(20 * budget // UNLISTED_PATH_BYTES)], 12)
    assert grown <= budget, grown


def test_a_dropped_unlisted_path_is_rebuilt_with_the_same_prices():
    market = Market(b"seed", BOOK, unlisted_cache_bytes=UNLISTED_PATH_BYTES)  # room for one path
    first = [market.quote("ZZA", T0 + k * HOUR_MS) for k in range(5)]
    market.quote("ZZB", T0)  # drops ZZA's path
    market._quotes.clear()
    assert [market.quote("ZZA", T0 + k * HOUR_MS) for k in range(5)] == first
    assert first == [Market(b"seed", BOOK).quote("ZZA", T0 + k * HOUR_MS) for k in range(5)]


def _process(env: dict[str, str], instrument: str) -> Execution | Rejection:
    settings = load_settings({"SIMULATION_SEED": "unlisted", "SIMULATION_CLOCK": "virtual",
                              "SIMULATION_MARKET_SESSIONS": "off", **env})
    body = si.intent(f"c-{instrument.replace('/', '')}", instrument=instrument, quantity=1,
                     timestamp="2026-01-12T15:00:00.000Z")
    outcome = IntentProcessor(settings, settings.seed).process(RawIntent(7, si.encode(body), None, 0))
    assert isinstance(outcome, Execution | Rejection)
    return outcome


def test_reject_refuses_an_unlisted_instrument_with_its_type_and_code():
    outcome = _process({"SIMULATION_UNLISTED_INSTRUMENTS": "reject"}, "ZZTOP")
    assert isinstance(outcome, Rejection)
    assert (outcome.error_type, outcome.error_code, outcome.corr_id) == (UNLISTED_INSTRUMENT, INSTRUMENT_NOT_LISTED,
                                                                          "c-ZZTOP")
    assert "ZZTOP" in outcome.detail


def test_reject_still_fills_listed_instruments_in_any_spelling_and_named_prices():
    reject = {"SIMULATION_UNLISTED_INSTRUMENTS": "reject"}
    assert isinstance(_process(reject, "BTC-USD"), Execution)
    assert isinstance(_process(reject, "AAPL"), Execution)
    assert isinstance(_process({**reject, "SIMULATION_REFERENCE_PRICES": "NEWCOIN=3.5"}, "NEWCOIN"), Execution)


def test_accept_prices_an_unlisted_instrument_as_before():
    assert isinstance(_process({}, "ZZTOP"), Execution)
