"""worker.simulator realism models: the trading calendars, checked exactly.

With market sessions on, an order arriving on a holiday, over the FX weekend or after an early close
is rejected as market_closed (naming the next open) while crypto fills, under either clock; the FX
week's boundaries are exact to the millisecond; child fills that run into the close cancel the
remainder; CME Globex's daily maintenance hour rejects and its 16:00 Chicago close ends DAY orders.
Pure code: no NATS.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.builders import exact_sum, execute, executed, fills_of, update_of
from tests.builders import realism_run as run
from tests.builders import realism_sim as make_sim
from worker.simulator import ExecutionSimulator


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# -- trading sessions -----------------------------------------------------------------------


def session_sim(delay_ms=250, clock="virtual", **kw) -> ExecutionSimulator:
    return make_sim(market_sessions=True, min_delay_ms=delay_ms, max_delay_ms=delay_ms, simulation_clock=clock, **kw)


def assert_rejected_closed(fills, update, quantity, calendar):
    (fill,) = fills
    assert fill["fill_status"] == "rejected" and fill["metadata"]["reason_code"] == "market_closed"
    assert fill["fill_quantity"] == quantity and fill["commission"] == 0
    assert fill["reject_reason"].startswith(f"market_closed: {calendar} is closed at ")
    assert update["status"] == update["event_type"] == "rejected"
    assert update["metadata"]["reason_code"] == "market_closed" and update["filled_quantity"] == 0


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_holiday_rejects_equity_while_crypto_fills(clock):
    sim = session_sim(clock=clock, commission_min=5.0)
    christmas = ms("2026-12-25T15:00:00Z") - 250  # arrives at 15:00:00.000 (stamped and stored then)
    ex, fills, _, update = run(sim, "xmas", ts_ms=christmas, received_ms=christmas, instrument="AAPL", quantity=10)
    assert_rejected_closed(fills, update, 10, "XNYS")
    assert fills[0]["reject_reason"] == ("market_closed: XNYS is closed at 2026-12-25T15:00:00.000Z; "
                                         "next open 2026-12-28T14:30:00.000Z")
    assert update["commission"] == 0 and ex.final_status == "rejected"
    # A hundredth of a bitcoin: within the touch, one fill.
    _, fills, _, update = run(sim, "xmas", ts_ms=christmas, received_ms=christmas, instrument="BTC/USD",
                              quantity=0.01)
    assert [f["fill_status"] for f in fills] == ["full"] and update is None


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_fx_weekend_rejected_while_crypto_fills(clock):
    sim = session_sim(clock=clock)
    saturday = ms("2026-11-28T12:00:00Z") - 250
    _, fills, _, update = run(sim, "sat", ts_ms=saturday, received_ms=saturday, instrument="EURUSD", quantity=1000)
    assert_rejected_closed(fills, update, 1000, "FX")
    assert fills[0]["reject_reason"].endswith("next open 2026-11-29T22:00:00.000Z")  # Sunday 17:00 New York
    _, fills, _, update = run(sim, "sat", ts_ms=saturday, received_ms=saturday, instrument="BTC/USD")
    assert [f["fill_status"] for f in fills] == ["full"] and update is None


@pytest.mark.parametrize("arrival,opened", [
    ("2026-11-27T21:59:59.999Z", True),  # Friday 16:59:59.999 New York
    ("2026-11-27T22:00:00.000Z", False),  # Friday 17:00: the week ends
    ("2026-11-29T21:59:59.999Z", False),
    ("2026-11-29T22:00:00.000Z", True),  # Sunday 17:00 New York (EST): the week begins
])
def test_fx_week_boundaries(arrival, opened):
    _, fills, _, _ = run(session_sim(), "fxw", ts_ms=ms(arrival) - 250, instrument="EURUSD", quantity=1000)
    assert fills[0]["fill_status"] == ("full" if opened else "rejected")


@pytest.mark.parametrize("clock", ["virtual", "wall"])
@pytest.mark.parametrize("arrival,opened", [
    ("2026-11-27T17:59:59.000Z", True),  # early close day (13:00 New York)
    ("2026-11-27T17:59:59.999Z", True),
    ("2026-11-27T18:00:00.000Z", False),
    ("2026-11-25T18:00:00.000Z", True),  # a normal day closes at 21:00Z
])
def test_early_close(clock, arrival, opened):
    sim = session_sim(delay_ms=700, clock=clock)
    ex, fills, _, update = run(sim, "ec", ts_ms=ms(arrival) - 700, received_ms=ms(arrival) - 700,
                               instrument="AAPL", quantity=10)
    assert fills[0]["metadata"]["market_time"] == arrival
    if opened:
        assert [f["fill_status"] for f in fills] == ["full"] and update is None
    else:
        assert_rejected_closed(fills, update, 10, "XNYS")


def test_child_fills_across_the_close_cancel_the_remainder():
    sim = session_sim(delay_ms=0, liquidity_share=0.01, max_child_fills=100)
    ex, fills, _, update = run(sim, "close", ts_ms=ms("2026-11-27T17:59:57.000Z"), instrument="AAPL",
                               quantity=100_000)
    done = executed(fills)
    assert sorted({f["metadata"]["market_time"] for f in done}) == [
        "2026-11-27T17:59:57.000Z", "2026-11-27T17:59:58.000Z", "2026-11-27T17:59:59.000Z"]
    last = fills[-1]
    assert last["fill_status"] == "cancelled" and last["metadata"]["reason_code"] == "market_closed"
    assert last["metadata"]["market_time"] == "2026-11-27T18:00:00.000Z"
    assert update["status"] == "cancelled" and update["metadata"]["reason_code"] == "market_closed"
    assert 0 < update["filled_quantity"] == exact_sum(done) and exact_sum(fills) == 100_000


# -- CME Globex: the daily maintenance hour and the 16:00 Chicago close -------------------------
# Wednesday 2026-11-18 (CST): 10:00 Chicago is 16:00Z, 16:00 is 22:00Z, 17:00 is 23:00Z.


@pytest.mark.parametrize("arrival,opened", [
    ("2026-11-18T21:59:59.999Z", True),  # 15:59:59.999 Chicago
    ("2026-11-18T22:00:00.000Z", False),  # 16:00: the daily maintenance halt begins
    ("2026-11-18T22:30:00.000Z", False),
    ("2026-11-18T23:00:00.000Z", True),  # 17:00: the next trade date's session opens
])
def test_an_es_market_order_in_the_maintenance_hour_is_rejected(arrival, opened):
    _, fills, _, update = run(session_sim(), "es", ts_ms=ms(arrival) - 250, instrument="ES_F", quantity=1)
    if opened:
        assert [f["fill_status"] for f in fills] == ["full"] and update is None
    else:
        assert_rejected_closed(fills, update, 1, "CMES")
        assert fills[0]["reject_reason"].endswith("next open 2026-11-18T23:00:00.000Z")


def test_an_es_day_limit_that_never_fills_expires_at_16_chicago():
    placed = ms("2026-11-18T16:00:00Z")  # 10:00 Chicago
    ex, bodies = execute({"market_sessions": True, "liquidity_share": 0.0}, instrument="ES_F", order_type="limit",
                         price=1000.0, quantity=1, ts_ms=placed - 1000, received_ms=placed,
                         metadata={"time_in_force": "DAY"})
    (fill,) = fills_of(bodies)
    close = ms("2026-11-18T22:00:00Z")  # 16:00 Chicago, not 17:00
    assert fill["fill_status"] == "cancelled" and fill["metadata"]["reason_code"] == "expired"
    assert fill["metadata"]["market_time"] == "2026-11-18T22:00:00.000Z"
    assert fill["execution_latency_ms"] == close - placed  # from the venue's receipt
    update = update_of(bodies)
    assert (update["status"], update["remaining_quantity"]) == ("expired", 1)
    assert ex.events[-1].fill_type == "expired"
