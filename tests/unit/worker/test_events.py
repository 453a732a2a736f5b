"""worker.events and worker.event_ids: timestamps, bounded ids, and the fill/reconcile bodies on the wire."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from common.contracts import FILL, RECONCILE, load_schema
from tests.builders import make_intent
from worker import event_ids, events
from worker.event_ids import bounded_id, fill_id, msg_id, order_id, reconcile_id
from worker.events import (
    CANCELLED,
    FULL,
    PARTIAL,
    Fill,
    OrderHeader,
    OrderOutcome,
    encode_events,
    fill_body,
    iso_ms,
    num,
    reconcile_body,
)
from worker.market import Quote
from worker.validation import schema_valid

FORMATS = Draft202012Validator.FORMAT_CHECKER
FILL_V = Draft202012Validator(load_schema(FILL), format_checker=FORMATS)
RECONCILE_V = Draft202012Validator(load_schema(RECONCILE), format_checker=FORMATS)
ID = re.compile(r"^[a-zA-Z0-9_-]+$")
T0 = 1_705_314_660_123
corr_ids = st.from_regex(r"\A[a-zA-Z0-9_-]{1,128}\Z")


def assert_valid(validator, body):
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]


# -- timestamps -------------------------------------------------------------------


def test_iso_ms_examples():
    assert iso_ms(1_705_314_665_456) == "2024-01-15T10:31:05.456Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(7) == "1970-01-01T00:00:00.007Z"
    assert iso_ms(-1) == "1969-12-31T23:59:59.999Z"
    assert iso_ms(951_782_400_000) == "2000-02-29T00:00:00.000Z"


def test_iso_ms_clamps_to_four_digit_years():
    assert iso_ms(events.MAX_EPOCH_MS + 10_000) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(events.MIN_EPOCH_MS - 10_000) == "0001-01-01T00:00:00.000Z"


@given(st.integers(events.MIN_EPOCH_MS, events.MAX_EPOCH_MS))
def test_iso_ms_round_trips(ms):
    text = iso_ms(ms)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    parsed = datetime.fromisoformat(text)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert (parsed - epoch) // timedelta(milliseconds=1) == ms


# -- ids --------------------------------------------------------------------------


def test_readable_ids():
    assert order_id("req_abc123") == "ord_req_abc123"
    assert fill_id("req_abc123", 2) == "fill_req_abc123_2"
    assert reconcile_id("req_abc123", 1) == "recon_req_abc123_1"
    assert msg_id("agent_1", "req_abc123", 1) == "agent_1:req_abc123:1"
    assert msg_id("agent_1", "req_abc123", 4) == "agent_1:req_abc123:4"


def test_message_ids_keep_agents_apart():
    # A corr_id is its agent's own: the same corr_id under two agents gives two ids, and since
    # neither part can hold ':', no other (agent_id, corr_id) pair gives the same id.
    assert msg_id("agent_a", "x", 1) != msg_id("agent_b", "x", 1)
    assert msg_id("a", "b_c", 1) != msg_id("a_b", "c", 1)
    assert msg_id("agent_a", "x", 3).split(":") == ["agent_a", "x", "3"]


@pytest.mark.parametrize("field", ["agent_id", "corr_id"])
def test_no_accepted_agent_id_or_corr_id_holds_the_message_ids_separator(field):
    for value, valid in (("a_b-1", True), ("a:b", False), ("a\n", False)):
        assert schema_valid({**make_intent(), field: value}) is valid, value


def test_bounded_id_switches_to_hash_exactly_past_128():
    fits = "a" * (128 - len("ord_"))
    assert bounded_id("ord", fits) == "ord_" + fits
    too_long = fits + "b"
    hashed = bounded_id("ord", too_long)
    assert hashed.startswith("ordx_") and len(hashed) == len("ordx_") + 32
    assert hashed == "ordx_" + event_ids.short_hash(too_long)


@given(corr_ids, st.integers(1, 9))
def test_ids_are_bounded_valid_and_deterministic(corr_id, k):
    for make in (lambda c: order_id(c), lambda c: fill_id(c, k), lambda c: reconcile_id(c, k)):
        value = make(corr_id)
        assert len(value) <= 128
        assert ID.match(value)
        assert value == make(corr_id)
    assert fill_id(corr_id, k) != fill_id(corr_id, k + 1)


def test_hashed_ids_differ_for_different_long_corr_ids():
    a, b = "x" * 128, "x" * 127 + "y"
    assert order_id(a) != order_id(b)
    assert fill_id(a, 1) != fill_id(b, 1)
    assert len(fill_id(a, 1)) <= 128


def test_readable_and_hashed_forms_cannot_collide():
    long_id = "q" * 128
    hashed = order_id(long_id)
    # Even a corr_id chosen to look like the hash gives a different readable id.
    forged = hashed[len("ordx_"):]
    assert order_id(forged) != hashed
    assert order_id("x_" + forged) != hashed


def test_num_rounds_and_drops_negative_zero():
    assert num(0.1 + 0.2) == 0.3
    assert math.copysign(1.0, num(-0.0)) == 1.0
    assert math.copysign(1.0, num(-1e-12)) == 1.0
    assert num(-2.5e-7) == -2.5e-7


# -- bodies -----------------------------------------------------------------------


def make_order(side="buy", corr_id="req_abc123", **kw):
    base = dict(
        corr_id=corr_id, order_id=order_id(corr_id), strategy_id="momentum_v1", agent_id="agent_1",
        instrument="EURUSD", side=side, order_type="market", quantity=10_000, intent_ms=T0, clock="virtual",
        seeded=True,
    )
    base.update(kw)
    return OrderHeader(**base)


QUOTE = Quote(bid=1.08945, ask=1.08955, mid=1.0895, volume=1_500_000)


def make_fill(index=1, status=FULL, quantity=10_000, price=1.0897, intended=1.0895, reason=None, **kw):
    base = dict(
        index=index, status=status, quantity=quantity, price=price, intended_price=intended, quote=QUOTE,
        delay_ms=125, market_ms=T0 + 125, stamp_ms=T0 + 125, commission=num(quantity * price * 0.5e-4),
        slippage=num(price - intended, 12), filled_total=quantity if status != CANCELLED else 0,
        reject_reason=reason,
    )
    base.update(kw)
    return Fill(**base)


def test_fill_body_fields():
    order = make_order()
    body = fill_body(order, make_fill(), "fill_req_abc123_1")
    assert_valid(FILL_V, body)
    assert body["corr_id"] == "req_abc123"
    assert body["order_id"] == "ord_req_abc123"
    assert body["fill_id"] == "fill_req_abc123_1"
    assert body["timestamp"] == "2024-01-15T10:31:00.248Z"
    assert body["fill_quantity"] == 10_000 and body["fill_price"] == 1.0897
    assert body["fill_status"] == "full"
    assert body["execution_venue"] == "simulation"
    assert body["market_data"] == {"bid": 1.08945, "ask": 1.08955, "mid": 1.0895, "volume": 1_500_000}
    assert body["execution_latency_ms"] == 125
    assert body["slippage"] == 0.0002
    assert body["commission"] == num(10_000 * 1.0897 * 0.5e-4)
    assert "reject_reason" not in body
    md = body["metadata"]
    assert md["order_type"] == "market" and md["fill_index"] == 1 and md["clock"] == "virtual"
    assert md["slippage_bps"] == pytest.approx(0.0002 / 1.0895 * 1e4, abs=1e-4)
    assert md["market_time"] == "2024-01-15T10:31:00.248Z"
    assert "limit_price" not in md and "stop_price" not in md


def test_fill_body_reports_limit_and_stop_prices():
    order = make_order(order_type="stop_limit", price=1.09, stop_price=1.088)
    md = fill_body(order, make_fill(intended=1.09, price=1.0897), "f")["metadata"]
    assert md["limit_price"] == 1.09 and md["stop_price"] == 1.088


def test_reject_reason_truncated_to_200():
    body = fill_body(make_order(), make_fill(status=CANCELLED, reason="r" * 500, commission=0.0, slippage=0.0), "f")
    assert len(body["reject_reason"]) == 200
    assert_valid(FILL_V, body)


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_reconcile_reports_signed_position_change(side, sign):
    order = make_order(side=side)
    fill = make_fill(price=1.0897 if side == "buy" else 1.0893)
    body = reconcile_body(order, fill, "fill_req_abc123_1")
    assert_valid(RECONCILE_V, body)
    (position,) = body["positions"]
    assert position["quantity"] == sign * 10_000
    assert position["avg_price"] == fill.price
    assert position["market_price"] == 1.0895
    assert position["market_value"] == pytest.approx(sign * 10_000 * 1.0895)
    assert position["unrealized_pnl"] == pytest.approx(sign * 10_000 * (1.0895 - fill.price))
    assert position["unrealized_pnl"] < 0  # slippage against the trader shows as a loss
    pnl = body["pnl_summary"]
    # Fees are realized at once (the at-core example's convention: gross = total + fees).
    assert pnl["realized_pnl"] == pytest.approx(-fill.commission)
    assert pnl["unrealized_pnl"] == position["unrealized_pnl"]
    assert pnl["total_pnl"] == pytest.approx(pnl["realized_pnl"] + pnl["unrealized_pnl"])
    assert pnl["gross_pnl"] == pytest.approx(pnl["total_pnl"] + pnl["total_fees"])
    assert pnl["total_fees"] == fill.commission > 0
    assert pnl["trade_count"] == 1
    assert body["fills_processed"] == ["fill_req_abc123_1"]
    assert body["reconcile_id"] == "recon_req_abc123_1"
    assert body["timestamp"] == body["period_end"] == iso_ms(fill.stamp_ms)
    assert body["period_start"] == iso_ms(T0)
    assert body["execution_venue"] == "simulation"
    assert body["metadata"]["corr_id"] == "req_abc123"
    assert "corr_id" not in body


def test_cancelled_reconcile_is_empty_and_zero():
    fill = make_fill(status=CANCELLED, price=1.0895, commission=0.0, slippage=0.0, reason="limit not marketable")
    body = reconcile_body(make_order(), fill, "f1")
    assert_valid(RECONCILE_V, body)
    assert body["positions"] == []
    assert body["pnl_summary"] == {
        "realized_pnl": 0.0, "unrealized_pnl": 0.0, "total_pnl": 0.0, "gross_pnl": 0.0,
        "total_fees": 0.0, "trade_count": 0,
    }


def test_period_never_ends_before_it_starts():
    # Wall clock with an intent stamped after its receipt.
    fill = make_fill(stamp_ms=T0 - 5_000)
    body = reconcile_body(make_order(), fill, "f1")
    assert body["period_start"] == body["period_end"] == iso_ms(T0 - 5_000)


def test_encode_events_order_ids_and_release_times():
    order = make_order(corr_id="c9")
    fills = [
        make_fill(1, PARTIAL, 4_000, delay_ms=150, stamp_ms=T0 + 150),
        make_fill(2, FULL, 6_000, delay_ms=900, stamp_ms=T0 + 900),
    ]
    out = encode_events(order, fills)
    assert [e.kind for e in out] == ["fill", "reconcile", "fill", "reconcile"]
    assert [e.msg_id for e in out] == [
        "agent_1:c9:1", "agent_1:c9:2", "agent_1:c9:3", "agent_1:c9:4"]
    assert [e.release_after_ms for e in out] == [150, 150, 900, 900]
    assert [e.fill_type for e in out] == ["partial", None, "full", None]
    bodies = [orjson.loads(e.payload) for e in out]
    assert_valid(FILL_V, bodies[0])
    assert_valid(RECONCILE_V, bodies[1])
    assert bodies[1]["fills_processed"] == [bodies[0]["fill_id"]] == ["fill_c9_1"]
    assert bodies[3]["fills_processed"] == [bodies[2]["fill_id"]] == ["fill_c9_2"]
    assert bodies[2]["timestamp"] == iso_ms(T0 + 900)
    # Same input, same bytes.
    assert encode_events(order, fills) == out


def test_every_execution_of_an_order_starts_at_the_same_message_id_whatever_it_became():
    # The first id is the order's claim on the stream (supervisor/outbound.py): a fill, a cancelled
    # fill with its order update, or a duplicated fill first, it is <agent_id>:<corr_id>:1, and the
    # rest number on from it without a gap.
    order = make_order(corr_id="c7")
    cancelled = make_fill(1, CANCELLED, 0, reason="not_marketable")
    outcome = OrderOutcome(CANCELLED, 0, None, 0.0, 0, cancelled)
    shapes = (
        encode_events(order, [make_fill(1, FULL, 10_000)]),
        encode_events(order, [make_fill(1, PARTIAL, 4_000), make_fill(2, FULL, 6_000)]),
        encode_events(order, [cancelled], outcome),
        encode_events(order, [make_fill(1, FULL, 10_000)], duplicate_first_fill=True),
    )
    assert {events_[0].kind for events_ in shapes} == {"fill"}
    assert encode_events(order, [], outcome)[0].kind == "order_update"
    for events_ in (*shapes, encode_events(order, [], outcome)):
        assert [e.msg_id for e in events_] == [f"agent_1:c7:{n}" for n in range(1, len(events_) + 1)]
