"""Stream and consumer settings derived from the configuration."""

from __future__ import annotations

from common.config import load_settings
from supervisor.jetstream import consumer_config, stream_config, stream_subjects, uncovered_market_subjects


def test_default_subjects_are_the_designs():
    assert stream_subjects(load_settings({})) == ["decisions.*", "executions.*"]


def test_deeper_subjects_get_one_non_overlapping_wildcard_per_root():
    settings = load_settings({"NATS_SUBJECT_ORDER_INTENT": "t1.decisions.order_intent",
                              "NATS_SUBJECT_FILL": "t1.executions.fill", "NATS_SUBJECT_RECONCILE": "t1.recon",
                              "NATS_SUBJECT_ORDER_UPDATE": "t1.executions.order_update"})
    assert stream_subjects(settings) == ["t1.>"]


def test_consumer_bounds_follow_the_settings():
    settings = load_settings({"MAX_IN_FLIGHT": "2500", "NATS_MAX_ACK_PENDING": "7500", "ACK_WAIT_SEC": "90",
                              "MAX_DELIVER": "4"})
    config = consumer_config(settings)
    assert config.max_ack_pending == 7500 and config.ack_wait == 90 and config.max_deliver == 4
    assert config.durable_name == "exec-sim-consumer" and config.filter_subject == "decisions.order_intent"


def test_shared_consumer_has_no_cap_of_its_own_by_default():
    # Each instance's MAX_IN_FLIGHT bounds it; a consumer-wide cap would be shared by all of them.
    assert consumer_config(load_settings({"MAX_IN_FLIGHT": "2500"})).max_ack_pending == -1


def test_replicas_are_the_streams_and_the_consumer_inherits_them():
    settings = load_settings({"NATS_STREAM_REPLICAS": "3"})
    assert stream_config(settings).num_replicas == 3
    assert not consumer_config(settings).num_replicas
    assert stream_config(load_settings({})).duplicate_window == 3600


def test_the_bus_stream_stores_quotes_signals_and_ticks_and_an_existing_one_is_checked():
    settings = load_settings({"MARKET_DATA": "bus", "MARKET_SIGNAL_SUBJECT": "signals.normalized"})
    created = stream_subjects(settings)
    assert created == ["decisions.*", "executions.*", "market.>", "signals.*"]
    assert uncovered_market_subjects(settings, created) == []
    # A stream made before the bus was turned on: the service warns instead of reading nothing in silence.
    assert uncovered_market_subjects(settings, ["decisions.*", "executions.*"]) == [
        "market.quote.>", "signals.normalized", "market.tick.>"]
    assert uncovered_market_subjects(settings, ["decisions.*", "executions.*", "market.quote.*", "signals.*"]) == [
        "market.tick.>"]
    assert uncovered_market_subjects(load_settings({}), ["decisions.*", "executions.*"]) == []
