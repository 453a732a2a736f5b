"""No edge from the intent's own timestamp: an agent cannot choose its market instant.

An intent's timestamp may be up to REPLAY_WINDOW_SEC from its receipt either way. Under the wall
clock the price is taken at the receipt (the stream's stored time) plus the delay, so a rule that
reads the path ahead with a future-stamped probe, then buys stamped now and sells stamped later,
trades both legs at one market instant and pays the spread on every round trip.
"""

from __future__ import annotations

import orjson

from tests.builders import FIXED_DELAY, T0, accept, make_intent, make_sim

AHEAD_MS = 240_000  # within the default REPLAY_WINDOW_SEC (300 s)
ROUND_TRIPS = 200


def fill_price(sim, corr_id: str, side: str, stamp_ms: int, received_ms: int) -> float:
    intent = make_intent(corr_id=corr_id, side=side, quantity=1000, instrument="EURUSD")
    return orjson.loads(sim.simulate(accept(intent, stamp_ms, received_ms)).events[0].payload)["fill_price"]


def test_a_rule_that_stamps_its_intents_ahead_cannot_profit() -> None:
    sim = make_sim(simulation_clock="wall", min_delay_ms=FIXED_DELAY, max_delay_ms=FIXED_DELAY)
    pnl = []
    for i in range(ROUND_TRIPS):
        now = T0 + i * 600_000
        probe = fill_price(sim, f"probe-{i}", "buy", now + AHEAD_MS, now)
        spot = fill_price(sim, f"spot-{i}", "buy", now, now)
        if probe > spot:  # "the price will rise": buy now, sell at the instant the probe saw
            pnl.append(fill_price(sim, f"sell-{i}", "sell", now + AHEAD_MS, now)
                       - fill_price(sim, f"buy-{i}", "buy", now, now))
        else:
            pnl.append(fill_price(sim, f"sell-{i}", "sell", now, now)
                       - fill_price(sim, f"buy-{i}", "buy", now + AHEAD_MS, now))
    assert max(pnl) <= 0, f"{sum(p > 0 for p in pnl)} of {ROUND_TRIPS} round trips made money"
