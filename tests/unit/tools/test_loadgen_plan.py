"""The load generator's plan and figures, without NATS."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from tools.loadgen.plan import LoadOptions, parse_mix, planned
from tools.loadgen.stats import IntentRecord, percentiles, summarize
from worker.validation import schema_valid


def test_open_loop_schedule_follows_the_rate():
    plan = list(planned(LoadOptions(count=5, rate_per_s=200)))
    assert [p.due_s for p in plan] == [0.0, 0.005, 0.01, 0.015, 0.02]


def test_same_seed_same_stream_of_intents():
    def bodies(seed: int) -> list[dict]:
        # Everything but the timestamp, which is the send day's clock.
        return [{k: v for k, v in orjson.loads(p.payload).items() if k != "timestamp"}
                for p in planned(LoadOptions(count=50, seed=seed, run_id="fixed"))]

    assert bodies(3) == bodies(3) and bodies(3) != bodies(4)


def test_order_mix_and_validity():
    plan = list(planned(LoadOptions(count=2000, order_mix={"market": 3, "limit": 1})))
    mix = Counter(p.order_type for p in plan)
    assert set(mix) == {"market", "limit"} and 1300 < mix["market"] < 1700
    assert all(schema_valid(orjson.loads(p.payload)) for p in plan)


def test_invalid_share_makes_each_kind_of_bad_intent():
    plan = list(planned(LoadOptions(count=3000, invalid_share=0.2, hmac_secret=b"k")))
    bad = [p for p in plan if p.expected_rejection]
    assert 480 < len(bad) < 720
    assert {p.expected_rejection for p in bad} == {"malformed_json", "not_object", "schema", "missing_price", "stale",
                                                    "invalid_directive", "bad_signature"}
    assert all(p.headers is None for p in bad if p.expected_rejection == "bad_signature")
    assert all(p.headers and p.headers["X-Signature"].startswith("sha256=") for p in plan if not p.expected_rejection)


def test_parse_mix_rejects_unknown_types():
    assert parse_mix("market=2, stop") == {"market": 2.0, "stop": 1.0}
    with pytest.raises(ValueError):
        parse_mix("iceberg=1")


def test_summary_measures_latency_from_the_scheduled_time():
    late = IntentRecord("a", "market", None, due_s=1.0, sent_s=1.5, first_fill_s=2.0, final_s=2.0,
                        statuses=["full"], reconciles=1, simulated_delay_ms=400, slippage_bps=[1.0])
    partial = IntentRecord("b", "limit", None, due_s=0.0, sent_s=0.0, first_fill_s=0.1, final_s=0.3,
                           statuses=["partial", "cancelled"], reconciles=2, simulated_delay_ms=100)
    lost = IntentRecord("c", "stop", None, due_s=0.5, sent_s=0.5)
    bad = IntentRecord("d", "market", "schema", due_s=0.6, sent_s=0.6)
    summary = summarize([late, partial, lost, bad], LoadOptions(rate_per_s=10), elapsed_s=3.0, send_s=1.5)
    assert summary["answered"] == 2 and summary["outstanding"] == 1
    assert summary["sent"] == {"total": 4, "valid": 3, "invalid": 1}
    assert summary["outcomes"] == {"filled_in_full": 1, "partial_rest_cancelled": 1, "unanswered": 1}
    assert summary["answered_pct"] == pytest.approx(200 / 3)
    assert summary["latency_ms"]["end_to_end"]["max"] == 1000.0  # from due 1.0, not from the late send at 1.5
    assert summary["latency_ms"]["without_simulated_delay"]["max"] == 600.0
    assert summary["rejections_sent_by_type"] == {"schema": 1}
    assert summary["reconciles"] == 3


def test_percentiles():
    figures = percentiles([float(v) for v in range(1, 1001)])
    assert figures["p50"] == 501 and figures["p99"] == 991 and figures["max"] == 1000 and figures["mean"] == 500.5
    assert percentiles([])["p50"] is None


def test_a_key_id_signs_every_intent_for_its_agent() -> None:
    import hmac

    plan = list(planned(LoadOptions(count=20, hmac_secret=b"k" * 16, key_id="desk-a", agent_id="agent_a")))
    for p in plan:
        assert p.headers is not None and p.headers["X-Key-Id"] == "desk-a"
        assert p.headers["X-Signature"] == "sha256=" + hmac.new(b"k" * 16, p.payload, "sha256").hexdigest()
        assert b'"agent_id":"agent_a"' in p.payload
