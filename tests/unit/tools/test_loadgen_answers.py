"""The answers of a run: faults and duplicate fills recognised, rejections explained, the service's
counters read, and the quote feed's quotes valid against the L1 quote contract."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from jsonschema import Draft202012Validator

from common.config import Settings
from common.contracts import MARKET_QUOTE, load_schema, quote_subject
from tools.loadgen.answers import Answers
from tools.loadgen.explain import early_stop, explain_unanswered, service_rejections
from tools.loadgen.feed import FeedOptions, FeedStats, QuoteMaker, publish_feed
from tools.loadgen.runner import Progress
from tools.loadgen.service_watch import ServiceState, read_counters
from tools.loadgen.stats import IntentRecord
from tools.loadgen.view import live_text

QUOTE = Draft202012Validator(load_schema(MARKET_QUOTE), format_checker=Draft202012Validator.FORMAT_CHECKER)


def msg(body: dict) -> SimpleNamespace:
    return SimpleNamespace(data=orjson.dumps(body))


def fill(corr_id: str, index: int, status: str, faults: list[str] | None = None) -> SimpleNamespace:
    metadata = {"order_type": "market", "slippage_bps": 1.0} | ({"faults": faults} if faults else {})
    return msg({"corr_id": corr_id, "fill_id": f"fill_{corr_id}_{index}", "fill_status": status,
                "execution_latency_ms": 100, "metadata": metadata})


def reconcile(corr_id: str, faults: list[str] | None = None) -> SimpleNamespace:
    return msg({"metadata": {"corr_id": corr_id} | ({"faults": faults} if faults else {})})


def test_a_duplicated_fill_is_one_answer_and_a_fault_and_faults_are_read_from_metadata():
    answers = Answers()
    answers.records["a"] = IntentRecord("a", "market", None, 0.0, sent_s=0.0)

    async def feed() -> None:
        await answers.on_fill(fill("a", 1, "full", ["latency_spike"]))
        await answers.on_fill(fill("a", 1, "full", ["latency_spike"]))  # the same bytes again
        await answers.on_reconcile(reconcile("a", ["reconcile_delayed"]))
        await answers.on_fill(fill("someone-else", 1, "full"))

    asyncio.run(feed())
    record = answers.records["a"]
    assert record.statuses == ["full"] and record.duplicate_fills == 1 and record.complete
    assert record.faults == {"latency_spike", "duplicate_fill", "reconcile_delayed"}
    assert answers.events == 3  # another run's fill is not ours


def test_the_live_view_shows_faults_received_and_the_services_rejections():
    records = [IntentRecord("a", "market", None, 0.0, sent_s=0.0, final_s=0.1, statuses=["full"], reconciles=1,
                            faults={"duplicate_fill", "latency_spike"}, duplicate_fills=1),
               IntentRecord("b", "market", None, 0.0, sent_s=0.0)]
    service = ServiceState(metrics_read=True)
    service.rejections.update({"duplicate": 7})
    text, last = live_text(Progress(records, 2.0, service, quotes=1234), (0.0, 0, 0))
    assert "faults received: duplicate_fill 1, latency_spike 1, duplicate fills received 1" in text
    assert "service rejected (its /metrics): duplicate 7" in text
    assert "quotes published: 1,234" in text and "outstanding 1" in text
    assert last == (2.0, 2, 1)


METRICS_TEXT = """\
# HELP exec_sim_validation_errors_total Rejected intents, by rejection type
# TYPE exec_sim_validation_errors_total counter
exec_sim_validation_errors_total{type="duplicate"} 2836.0
exec_sim_validation_errors_total{type="schema"} 3.0
# TYPE exec_sim_orders_received_total counter
exec_sim_orders_received_total{status="accepted"} 10.0
exec_sim_orders_received_total{status="refused"} 2.0
# TYPE exec_sim_faults_injected_total counter
exec_sim_faults_injected_total{fault="latency_spike"} 4.0
# TYPE exec_sim_fills_generated_total counter
exec_sim_fills_generated_total{fill_type="full"} 9.0
"""


def test_the_services_counters_are_read_from_its_metrics_page():
    counters = read_counters(METRICS_TEXT)
    assert counters["exec_sim_validation_errors"] == {"duplicate": 2836, "schema": 3}
    assert counters["exec_sim_orders_received"]["refused"] == 2
    assert counters["exec_sim_faults_injected"] == {"latency_spike": 4}


RUN = {"run_id": "lg", "run_id_given": True, "signed": False, "agent_id": "demo_agent",
       "idempotency_ttl_s": 3600.0, "replay_window_s": 300.0}


def test_the_issues_case_is_explained_as_duplicates_from_a_reused_run_id():
    results = {"outstanding": 2836, "rejections_sent_by_type": {}}
    service = {"metrics_read": True, "rejections_by_type": {"duplicate": 2836}, "consumer_read": True,
               "consumer_pending": 0, "consumer_ack_pending": 0}
    text = "\n".join(explain_unanswered(results, service, RUN))
    assert "duplicate 2,836" in text and "were rejected" in text
    assert "cause: duplicate" in text and "fixed --run-id 'lg' was used before" in text
    assert "IDEMPOTENCY_TTL_SEC (3600 s here)" in text and "bad_signature" not in text
    assert service_rejections(results, service) == 2836


def test_without_the_services_word_the_likely_causes_are_listed():
    results = {"outstanding": 5, "rejections_sent_by_type": {}}
    text = "\n".join(explain_unanswered(results, {"metrics_read": False, "consumer_read": False}, RUN))
    for cause in ("likely: duplicate", "likely: bad_signature", "likely: stale", "not confirmed"):
        assert cause in text
    assert service_rejections(results, {"metrics_read": False}) is None


def test_a_stopped_service_is_not_mistaken_for_rejections():
    service = {"metrics_read": False, "consumer_read": True, "consumer_pending": 20, "consumer_ack_pending": 0}
    text = "\n".join(explain_unanswered({"outstanding": 20}, service, RUN))
    assert "still holds 20 intents not taken: is the service running" in text
    assert "were rejected" not in text


def test_intents_spoiled_on_purpose_are_not_counted_as_service_rejections():
    results = {"outstanding": 0, "rejections_sent_by_type": {"schema": 3}}
    assert service_rejections(results, {"metrics_read": True, "rejections_by_type": {"schema": 3}}) == 0
    assert explain_unanswered(results, {}, RUN) == []


def test_early_stop_only_when_the_service_has_handled_every_intent_and_the_answers_are_read():
    assert early_stop(3, pending=0, ack_pending=0, rejected_beyond=None, readers_drained=True)
    assert not early_stop(0, 0, 0, None, True)  # nothing awaited: the normal end
    assert not early_stop(3, 5, 0, 3, True)  # intents not taken yet
    assert not early_stop(3, 0, 0, None, False)  # answers stored, not read yet
    assert not early_stop(3, None, None, 3, True)  # the consumer's state unknown
    # Other orders in hand (resting ones): stop only when the rejections counted cover what is awaited.
    assert early_stop(3, 0, 168, 3, True) and not early_stop(3, 0, 168, 2, True)
    assert not early_stop(3, 0, 168, None, True)


def test_rejections_with_other_orders_in_hand_are_still_rejections():
    service = {"metrics_read": True, "rejections_by_type": {"duplicate": 50}, "consumer_read": True,
               "consumer_pending": 0, "consumer_ack_pending": 168}
    text = "\n".join(explain_unanswered({"outstanding": 50, "rejections_sent_by_type": {}}, service, RUN))
    assert "counted 50 rejections beyond the invalid intents sent: the 50 unanswered ones were rejected" in text
    assert "still working" not in text


def test_every_quote_is_schema_valid_uncrossed_and_on_its_instruments_subject():
    settings = Settings()
    maker = QuoteMaker(settings.seed, settings.instruments, rng_seed=3)
    book = settings.instruments
    for instrument in ("BTC/USD", "EURUSD", "AAPL", "ES_F", "USDJPY"):
        for step in range(50):
            at_ms = 1_796_000_000_000 + step * 250
            quote = maker.quote(instrument, at_ms)
            assert QUOTE.is_valid(quote), list(QUOTE.iter_errors(quote))
            assert 0 < quote["bid"] < quote["ask"] and quote["bid_size"] > 0 and quote["ask_size"] > 0
            info = book.get(instrument)
            assert 0.2 < quote["bid"] / info.reference_price < 5  # around the reference price
            assert quote["bid_size"] / info.lot_size == pytest.approx(round(quote["bid_size"] / info.lot_size))


def test_the_feed_publishes_its_rate_in_turn_over_the_instruments():
    published: list[tuple[str, bytes]] = []

    class FakeNats:
        async def publish(self, subject: str, payload: bytes) -> None:
            published.append((subject, payload))

    settings = Settings()
    options = FeedOptions(rate_per_s=400.0, instruments=("BTC/USD", "EURUSD"), duration_s=0.25)
    stats = FeedStats()
    asyncio.run(publish_feed(FakeNats(), QuoteMaker(settings.seed, settings.instruments), options, stats))
    assert len(published) == stats.total == 100
    assert [s for s, _ in published[:4]] == ["market.quote.BTCUSD", "market.quote.EURUSD"] * 2
    assert stats.published == {"BTC/USD": 50, "EURUSD": 50}
    assert all(s == quote_subject(orjson.loads(p)["instrument"]) for s, p in published)


def test_the_feed_opens_with_a_quote_of_every_instrument_before_it_keeps_its_rate():
    """The run waits for FeedStats.primed before its first intent: every instrument then has a quote."""
    published: list[str] = []

    class FakeNats:
        async def publish(self, subject: str, payload: bytes) -> None:
            published.append(subject)

    settings = Settings()
    instruments = ("BTC/USD", "EURUSD", "AAPL")
    stats = FeedStats()

    async def run() -> list[str]:
        task = asyncio.create_task(publish_feed(FakeNats(), QuoteMaker(settings.seed, settings.instruments),
                                                FeedOptions(rate_per_s=0.5, instruments=instruments), stats))
        await asyncio.wait_for(stats.primed.wait(), 5)
        first = list(published)
        task.cancel()
        return first

    # At half a quote a second the rate alone would take six seconds to reach the third instrument.
    assert asyncio.run(run()) == [quote_subject(i) for i in instruments]
