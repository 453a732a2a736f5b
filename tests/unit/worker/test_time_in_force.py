"""worker.time_in_force: each policy's rest, kill, cancel and expiry decisions."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.builders import BOOK, SEED
from worker.directives import DAY, FOK, GTC, IOC
from worker.events import FOK_NOT_FILLED, IOC_REMAINDER
from worker.quantities import Lots
from worker.synthetic_market import SyntheticMarket
from worker.time_in_force import (
    DAY_MS,
    FillOrKill,
    GoodForDay,
    GoodTillCancelled,
    ImmediateOrCancel,
    TimeInForce,
    time_in_force_policies,
)

SESSIONS = SyntheticMarket(SEED, BOOK, sessions_on=True)
NO_SESSIONS = SyntheticMarket(SEED, BOOK, sessions_on=False)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_one_policy_per_time_in_force_and_the_default():
    policies = time_in_force_policies(7.0)
    assert set(policies) == {None, IOC, FOK, DAY, GTC}
    assert [type(policies[k]) for k in (None, IOC, FOK, DAY, GTC)] == [
        TimeInForce, ImmediateOrCancel, FillOrKill, GoodForDay, GoodTillCancelled]
    assert [policies[k].rests for k in (None, IOC, FOK, DAY, GTC)] == [False, False, False, True, True]
    assert [policies[k].random_partials for k in (None, IOC, FOK, DAY, GTC)] == [True, True, False, True, True]


def test_the_default_never_kills_never_cancels_the_rest_and_never_rests():
    default, lots = TimeInForce(), Lots(100, 1)
    assert default.short_at_arrival(1, lots) is None
    assert default.after_fill("60 of 100") is None
    assert default.expiry(SESSIONS, "AAPL", ms("2024-01-16T15:00:00+00:00")) is None


def test_ioc_cancels_the_rest_after_its_fill_at_arrival():
    verdict = ImmediateOrCancel().after_fill("60 of 100")
    assert verdict is not None and verdict.code == IOC_REMAINDER
    assert verdict.reason == "immediate or cancel: 60 of 100 not filled at arrival"
    assert ImmediateOrCancel().short_at_arrival(1, Lots(100, 1)) is None


def test_fok_kills_an_order_the_market_cannot_fill_in_full():
    fok, lots = FillOrKill(), Lots(100, 1)
    verdict = fok.short_at_arrival(40, lots)
    assert verdict is not None and verdict.code == FOK_NOT_FILLED
    assert verdict.reason == "fill or kill: 40 of 100 available at arrival; nothing filled"
    assert fok.short_at_arrival(100, lots) is None
    assert fok.after_fill("1 of 100") is None


def test_day_expires_at_the_close_of_the_session_it_arrives_in_or_the_next():
    day = GoodForDay()
    # Tuesday 2024-01-16 10:00 New York: NYSE closes at 16:00 (21:00 UTC).
    assert day.expiry(SESSIONS, "AAPL", ms("2024-01-16T15:00:00+00:00")) == ms("2024-01-16T21:00:00+00:00")
    # Saturday: the next session is Tuesday's (Monday 2024-01-15 is a holiday).
    assert day.expiry(SESSIONS, "AAPL", ms("2024-01-13T15:00:00+00:00")) == ms("2024-01-16T21:00:00+00:00")
    # 24/7 and sessions off: a day after arrival.
    at = ms("2024-01-13T15:00:00+00:00")
    assert day.expiry(SESSIONS, "BTC/USD", at) == at + DAY_MS
    assert day.expiry(NO_SESSIONS, "AAPL", at) == at + DAY_MS


def test_gtc_expires_after_its_horizon_and_neither_rests_beyond_the_calendar():
    gtc = GoodTillCancelled(3 * DAY_MS)
    at = ms("2024-01-13T15:00:00+00:00")
    assert gtc.expiry(SESSIONS, "AAPL", at) == at + 3 * DAY_MS
    beyond = ms("2040-01-02T15:00:00+00:00")
    assert gtc.expiry(SESSIONS, "AAPL", beyond) is None
    assert GoodForDay().expiry(SESSIONS, "AAPL", beyond) is None
    with pytest.raises(ValueError):
        GoodTillCancelled(0)
