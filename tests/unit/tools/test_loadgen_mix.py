"""The load generator's mixes: every order type, time in force and forced outcome, in intents the
service accepts (its own validator and the at-core schema), and a run id of its own for every run."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

import orjson
import pytest
from jsonschema import Draft202012Validator

from common.config import Settings
from common.contracts import ORDER_INTENT, load_schema
from common.messages import RawIntent, Rejection
from tools.loadgen.mix import parse_force_mix, parse_tif_mix, without_partial
from tools.loadgen.plan import LoadOptions, new_run_id, parse_mix, planned
from worker.directives import Directives, read_directives
from worker.intent import AcceptedIntent
from worker.validation import IntentValidator

AT_CORE = Draft202012Validator(load_schema(ORDER_INTENT), format_checker=Draft202012Validator.FORMAT_CHECKER)
EVERYTHING = LoadOptions(
    count=3000, run_id="mix", seed=5,
    order_mix=parse_mix("market,limit,stop,stop_limit"),
    tif_mix=parse_tif_mix("none,ioc,fok,day,gtc"),
    force_mix=parse_force_mix("none,full,partial,reject"),
)
SATURDAY_MS = 1_764_979_200_000  # 2025-12-06T00:00:00Z: the NYSE is closed, crypto trades


def test_every_order_type_time_in_force_and_forced_outcome_is_sent():
    plan = list(planned(EVERYTHING, start_ms=int(time.time() * 1000)))
    assert set(Counter(p.order_type for p in plan)) == {"market", "limit", "stop", "stop_limit"}
    assert set(Counter(p.tif for p in plan)) == {"none", "ioc", "fok", "day", "gtc"}
    assert set(Counter(p.force for p in plan)) == {"none", "full", "partial", "reject"}
    for p in plan:
        metadata = orjson.loads(p.payload).get("metadata", {})
        assert metadata.get("time_in_force") == (None if p.tif == "none" else p.tif.upper())
        force = metadata.get("exec_sim_force")
        assert (force or {}).get("outcome") == (None if p.force == "none" else p.force)


def test_every_generated_intent_is_valid_at_core_and_accepted_by_the_services_validator():
    now_ms = int(time.time() * 1000)
    validator = IntentValidator(Settings())
    for p in planned(EVERYTHING, start_ms=now_ms):
        body = orjson.loads(p.payload)
        assert AT_CORE.is_valid(body), list(AT_CORE.iter_errors(body))[:1]
        directives = read_directives(body, forced_outcomes=True)
        assert isinstance(directives, Directives), (p.corr_id, directives)
        verdict = validator.check(RawIntent(1, p.payload, None, now_ms + round(p.due_s * 1000)))
        assert isinstance(verdict, AcceptedIntent), verdict


def test_a_fok_intent_never_asks_for_a_forced_partial():
    plan = list(planned(replace(EVERYTHING, tif_mix={"fok": 1.0}, force_mix={"partial": 1.0, "reject": 1.0})))
    assert {p.force for p in plan} == {"reject"}
    assert without_partial({"partial": 1.0}) == {"none": 1.0}


def test_invalid_intents_get_the_rejection_they_were_made_for():
    now_ms = int(time.time() * 1000)
    options = replace(EVERYTHING, count=600, invalid_share=0.5)
    validator = IntentValidator(replace(Settings(), replay_window_s=300))
    kinds = Counter()
    for p in planned(options, start_ms=now_ms):
        if p.expected_rejection is None:
            continue
        verdict = validator.check(RawIntent(1, p.payload, None, now_ms + round(p.due_s * 1000)))
        assert isinstance(verdict, Rejection) and verdict.error_type == p.expected_rejection, (p, verdict)
        kinds[p.expected_rejection] += 1
    assert set(kinds) == {"malformed_json", "not_object", "schema", "missing_price", "stale", "invalid_directive"}


def test_timestamps_are_the_scheduled_send_times():
    start_ms = 1_800_000_000_000
    plan = list(planned(replace(EVERYTHING, count=5, rate_per_s=4), start_ms=start_ms))
    assert [orjson.loads(p.payload)["timestamp"] for p in plan] == [
        "2027-01-15T08:00:00.000Z", "2027-01-15T08:00:00.250Z", "2027-01-15T08:00:00.500Z",
        "2027-01-15T08:00:00.750Z", "2027-01-15T08:00:01.000Z"]


def test_resting_orders_on_a_closed_market_are_expected_to_rest():
    options = replace(EVERYTHING, count=400, order_mix={"limit": 1.0}, tif_mix={"day": 1.0, "gtc": 1.0},
                      force_mix={"none": 1.0}, instruments=("AAPL", "BTC/USD"))
    plan = list(planned(options, start_ms=SATURDAY_MS))
    assert {p.expect_rest for p in plan if p.instrument == "AAPL"} == {True}
    assert {p.expect_rest for p in plan if p.instrument == "BTC/USD"} == {False}
    assert not any(p.expect_rest for p in planned(replace(options, sessions_on=False), start_ms=SATURDAY_MS))
    market = list(planned(replace(options, order_mix={"market": 1.0}), start_ms=SATURDAY_MS))
    assert not any(p.expect_rest for p in market)


def test_resting_time_in_force_orders_are_sent_marketable():
    """A DAY/GTC limit placed away from the market would wait for its price for hours."""
    options = replace(EVERYTHING, count=300, order_mix={"limit": 1.0}, tif_mix={"gtc": 1.0}, away_share=1.0,
                      instruments=("EURUSD",), sides=("buy",))
    for p in planned(options, start_ms=int(time.time() * 1000)):
        assert orjson.loads(p.payload)["price"] > 1.0  # a buy limit far above EURUSD's reference


@pytest.mark.parametrize(("text", "message"), [
    ("iceberg=1", "unknown order type"), ("market=-1", "0 or more"), ("market=x", "a number"),
    ("market=0", "positive weight"), ("market,market=2", "twice"), ("market=inf", "finite"),
])
def test_order_mix_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_mix(text)


def test_tif_and_force_mix_names():
    assert parse_tif_mix("none=5, IOC ,fok=2") == {"none": 5.0, "ioc": 1.0, "fok": 2.0}
    assert parse_force_mix("reject=0.5") == {"reject": 0.5}
    with pytest.raises(ValueError, match="unknown time in force"):
        parse_tif_mix("gtd=1")
    with pytest.raises(ValueError, match="unknown forced outcome"):
        parse_force_mix("cancel")


def test_every_run_has_its_own_run_id_and_a_given_one_is_kept():
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("lg-") for i in ids)
    assert LoadOptions().run_id != LoadOptions().run_id
    first = [p.corr_id for p in planned(LoadOptions(count=3, rate_per_s=0))]
    second = [p.corr_id for p in planned(LoadOptions(count=3, rate_per_s=0))]
    assert not set(first) & set(second)
    assert [p.corr_id for p in planned(LoadOptions(count=2, run_id="fixed"))] == ["fixed-0000000", "fixed-0000001"]
    assert new_run_id(0).startswith("lg-19700101T000000-")
