"""Settings from the environment: defaults, parsing, and one clear error per bad value."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from common.config import ENVIRONMENT_VARIABLES, ConfigError, Settings, load_settings


def test_defaults_match_the_design_table():
    s = load_settings({})
    assert s.service_name == "at-exec-sim" and s.port == 8004
    assert s.nats_urls == ("nats://localhost:4222",)
    assert (s.nats_stream, s.nats_durable) == ("trading-events", "exec-sim-consumer")
    assert (s.subject_order_intent, s.subject_fill, s.subject_reconcile) == (
        "decisions.order_intent", "executions.fill", "executions.reconcile")
    assert s.hmac_secret == b"" and s.idempotency_ttl_s == 3600 and s.rate_limit_rps == 0
    assert s.replay_window_s == 300 and (s.min_delay_ms, s.max_delay_ms) == (100, 2000)
    assert s.partial_fill_chance == 0.1 and s.slippage_bps == 2
    assert s.prometheus_multiproc_dir == "/tmp/prometheus_multiproc"
    assert s.log_level == "INFO" and s.env == "development" and s.workers >= 1
    assert s.simulation_seed is None and s.simulation_clock == "wall"


def test_every_design_variable_is_read():
    for variable in ("SERVICE_NAME", "PORT", "NATS_URL", "NATS_STREAM", "NATS_DURABLE", "NATS_SUBJECT_ORDER_INTENT",
                     "NATS_SUBJECT_FILL", "NATS_SUBJECT_RECONCILE", "API_KEY_HMAC_SECRET", "IDEMPOTENCY_TTL_SEC",
                     "RATE_LIMIT_RPS", "REPLAY_WINDOW_SEC", "SIMULATION_MIN_DELAY_MS", "SIMULATION_MAX_DELAY_MS",
                     "SIMULATION_PARTIAL_FILL_CHANCE", "SIMULATION_SLIPPAGE_BPS", "PROMETHEUS_MULTIPROC_DIR",
                     "LOG_LEVEL", "ENV", "WORKERS", "BATCH_SIZE", "SIMULATION_SEED", "SIMULATION_CLOCK"):
        assert variable in ENVIRONMENT_VARIABLES


def test_values_are_parsed():
    s = load_settings({
        "NATS_URL": "nats://a:1, nats://b:2", "WORKERS": "3", "RATE_LIMIT_RPS": "100",
        "SIMULATION_PARTIAL_FILL_CHANCE": "0.25", "API_KEY_HMAC_SECRET": "k", "LOG_LEVEL": "debug",
        "SIMULATION_CLOCK": "Virtual", "SIMULATION_SEED": "42", "SIMULATION_REFERENCE_PRICES": "eurusd=1.1,AAPL=190",
    })
    assert s.nats_urls == ("nats://a:1", "nats://b:2") and s.workers == 3 and s.rate_limit_rps == 100
    assert s.partial_fill_chance == 0.25 and s.hmac_secret == b"k" and s.log_level == "DEBUG"
    assert s.virtual_clock and s.seed == b"42"
    assert s.reference_prices == {"EURUSD": 1.1, "AAPL": 190.0}


def test_unseeded_runs_share_a_seed_per_deployment():
    assert load_settings({}).seed == load_settings({}).seed
    assert load_settings({}).seed != load_settings({"NATS_DURABLE": "other"}).seed


def test_ack_wait_follows_long_delays_when_unset():
    s = load_settings({"SIMULATION_MAX_DELAY_MS": "60000"})
    assert s.ack_wait_s > 2 * 60 + s.publish_timeout_s


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"RATE_LIMIT_RPS": "abc"}, "RATE_LIMIT_RPS"),
        ({"RATE_LIMIT_RPS": "-1"}, "RATE_LIMIT_RPS"),
        ({"SIMULATION_PARTIAL_FILL_CHANCE": "2"}, "SIMULATION_PARTIAL_FILL_CHANCE"),
        ({"SIMULATION_PARTIAL_FILL_CHANCE": "nan"}, "SIMULATION_PARTIAL_FILL_CHANCE"),
        ({"SIMULATION_MIN_DELAY_MS": "3000", "SIMULATION_MAX_DELAY_MS": "2000"}, "SIMULATION_MIN_DELAY_MS"),
        ({"WORKERS": "0"}, "WORKERS"),
        ({"WORKERS": "two"}, "WORKERS"),
        ({"PORT": "70000"}, "PORT"),
        ({"NATS_URL": "localhost"}, "NATS_URL"),
        ({"SIMULATION_CLOCK": "sundial"}, "SIMULATION_CLOCK"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"NATS_SUBJECT_FILL": "executions.*"}, "NATS_SUBJECT_FILL"),
        ({"SIMULATION_REFERENCE_PRICES": "EURUSD=-1"}, "SIMULATION_REFERENCE_PRICES"),
        ({"ACK_WAIT_SEC": "2"}, "ACK_WAIT_SEC"),
    ],
)
def test_bad_values_name_their_variable(env, variable):
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    assert error.value.variable == variable
    assert str(error.value).startswith(variable)


def test_secret_is_not_in_the_repr():
    assert "s3cret" not in repr(load_settings({"API_KEY_HMAC_SECRET": "s3cret"}))


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().workers = 4  # type: ignore[misc]


@pytest.mark.parametrize("variable, value", [("RATE_LIMIT_RPS", "abc"), ("WORKERS", "0"),
                                             ("SIMULATION_PARTIAL_FILL_CHANCE", "2")])
def test_service_refuses_to_start_with_one_line_and_exit_2(variable, value):
    result = subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "run"], env={"PATH": "/usr/bin:/bin", variable: value},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("variable", ["NATS_STREAM", "NATS_DURABLE"])
@pytest.mark.parametrize("value", ["a.b", "a b", "a*", "a>"])
def test_jetstream_names_are_checked(variable, value):
    with pytest.raises(ConfigError) as error:
        load_settings({variable: value})
    assert error.value.variable == variable


def test_realism_settings_are_parsed():
    s = load_settings({
        "SIMULATION_SLIPPAGE_MODEL": "SQRT_IMPACT", "SIMULATION_IMPACT_COEFFICIENT": "0.7",
        "SIMULATION_LATENCY_MODEL": "lognormal", "SIMULATION_LATENCY_MEDIAN_MS": "80", "SIMULATION_LATENCY_SIGMA": "0.5",
        "SIMULATION_LIQUIDITY_SHARE": "0.25", "SIMULATION_LIQUIDITY_REMAINDER": "cancel",
        "SIMULATION_MAX_CHILD_FILLS": "5", "SIMULATION_COMMISSION_MODEL": "per_unit",
        "SIMULATION_COMMISSION_PER_UNIT": "0.005", "SIMULATION_COMMISSION_MIN": "1", "SIMULATION_MARKET_SESSIONS": "off",
        "NATS_SUBJECT_ORDER_UPDATE": "x.order_update",
    })
    assert (s.slippage_model, s.impact_coefficient) == ("sqrt_impact", 0.7)
    assert (s.latency_model, s.latency_median_ms, s.latency_sigma) == ("lognormal", 80, 0.5)
    assert (s.liquidity_share, s.liquidity_remainder, s.max_child_fills) == (0.25, "cancel", 5)
    assert (s.commission_model, s.commission_per_unit, s.commission_min) == ("per_unit", 0.005, 1)
    assert s.market_sessions is False and s.output_subjects["order_update"] == "x.order_update"
    defaults = load_settings({})
    assert (defaults.slippage_model, defaults.latency_model, defaults.commission_model) == ("book", "uniform", "bps")
    assert (defaults.queue_model, defaults.queue_fill_chance) == ("risk_averse", 0.5)
    queue = load_settings({"SIMULATION_QUEUE_MODEL": "probabilistic", "SIMULATION_QUEUE_FILL_CHANCE": "0.3"})
    assert (queue.queue_model, queue.queue_fill_chance) == ("probabilistic", 0.3)
    assert defaults.market_sessions is True and defaults.liquidity_share == 1.0 and defaults.max_child_fills == 10


@pytest.mark.parametrize("variable,value", [
    ("SIMULATION_SLIPPAGE_MODEL", "magic"), ("SIMULATION_LATENCY_MODEL", "normal"),
    ("SIMULATION_LIQUIDITY_SHARE", "-1"), ("SIMULATION_LIQUIDITY_REMAINDER", "keep"),
    ("SIMULATION_MAX_CHILD_FILLS", "0"), ("SIMULATION_COMMISSION_MODEL", "flat"),
    ("SIMULATION_COMMISSION_MIN", "-2"), ("SIMULATION_MARKET_SESSIONS", "maybe"),
    ("SIMULATION_LATENCY_SIGMA", "nan"), ("SIMULATION_QUEUE_MODEL", "fifo"), ("SIMULATION_QUEUE_FILL_CHANCE", "1.5"),
])
def test_bad_realism_values_name_their_variable(variable, value):
    with pytest.raises(ConfigError) as err:
        load_settings({variable: value})
    assert err.value.variable == variable


def test_ack_wait_covers_child_fills():
    s = load_settings({"SIMULATION_MAX_CHILD_FILLS": "100"})
    assert s.ack_wait_s > 2 * s.max_delay_ms / 1000 + 98 + s.publish_timeout_s
    with pytest.raises(ConfigError, match="SIMULATION_MAX_CHILD_FILLS"):
        load_settings({"SIMULATION_MAX_CHILD_FILLS": "100", "ACK_WAIT_SEC": "60"})
    # Unlimited liquidity has no child fills: the delays alone decide.
    assert load_settings({"SIMULATION_MAX_CHILD_FILLS": "100", "SIMULATION_LIQUIDITY_SHARE": "0"}).ack_wait_s == 60


def test_scale_out_settings_are_parsed():
    defaults = load_settings({})
    assert defaults.nats_stream_replicas == 1 and defaults.nats_max_ack_pending == -1
    s = load_settings({"NATS_STREAM_REPLICAS": "3", "MAX_IN_FLIGHT": "500", "NATS_MAX_ACK_PENDING": "1500"})
    assert (s.nats_stream_replicas, s.max_in_flight, s.nats_max_ack_pending) == (3, 500, 1500)


@pytest.mark.parametrize("env, variable", [
    ({"NATS_STREAM_REPLICAS": "0"}, "NATS_STREAM_REPLICAS"),
    ({"NATS_STREAM_REPLICAS": "6"}, "NATS_STREAM_REPLICAS"),
    ({"NATS_STREAM_REPLICAS": "three"}, "NATS_STREAM_REPLICAS"),
    ({"NATS_MAX_ACK_PENDING": "0"}, "NATS_MAX_ACK_PENDING"),
    ({"NATS_MAX_ACK_PENDING": "-2"}, "NATS_MAX_ACK_PENDING"),
    # Below one instance's own bound: the silent cap the setting exists to avoid.
    ({"MAX_IN_FLIGHT": "2000", "NATS_MAX_ACK_PENDING": "1999"}, "NATS_MAX_ACK_PENDING"),
])
def test_bad_scale_out_values_name_their_variable(env, variable):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert err.value.variable == variable


def test_off_grid_defaults_to_reject_and_takes_round_or_accept():
    assert load_settings({}).off_grid == "reject"
    assert load_settings({"SIMULATION_OFF_GRID": "Round"}).off_grid == "round"
    assert load_settings({"SIMULATION_OFF_GRID": "accept"}).off_grid == "accept"
    with pytest.raises(ConfigError) as err:
        load_settings({"SIMULATION_OFF_GRID": "snap"})
    assert err.value.variable == "SIMULATION_OFF_GRID"
