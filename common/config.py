"""Service settings: read once from the environment into one frozen object.

Runs in the supervisor at start; the resulting `Settings` is passed to every
process (it pickles), so nothing else in the code base reads os.environ.
Each variable is parsed and checked by its own small validator; the first bad
value raises `ConfigError` naming the variable, and the CLI turns that into one
line on stderr and exit code 2. The variables themselves (name, field, parser,
documentation) are defined in common.config_variables and common.config_market;
this module reads them in that order and checks the fields against each other.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from common.config_fields import ConfigError, Variable
from common.config_market import MARKET_VARIABLES, MarketDataSettings, check_market_data
from common.config_variables import GROUPS
from common.instruments import InstrumentBook, InstrumentsError, load_instruments
from common.keyring import Keyring, KeyringError, load_keyring
from common.redact import redacted_urls

# A liquidity-limited order's next child fill comes this much after the previous one.
CHILD_FILL_INTERVAL_MS = 1000
# The stream's duplicate window is what drops a re-published event after a crash: the
# shortest a created stream gets.
MIN_DUPLICATE_WINDOW_S = 120.0
RESTING_SPAN_MARGIN_S = 60.0


@dataclass(frozen=True)
class Settings(MarketDataSettings):
    service_name: str = "at-exec-sim"
    port: int = 8004
    http_host: str = "0.0.0.0"
    nats_urls: tuple[str, ...] = ("nats://localhost:4222",)
    nats_stream: str = "trading-events"
    nats_durable: str = "exec-sim-consumer"
    subject_order_intent: str = "decisions.order_intent"
    subject_fill: str = "executions.fill"
    subject_reconcile: str = "executions.reconcile"
    subject_order_update: str = "executions.order_update"
    # Empty means signatures are not checked.
    hmac_secret: bytes = field(default=b"", repr=False)
    # Per-agent keys (common/keyring.py): "" = none, the shared secret alone decides.
    keyring_file: str = ""
    # Loaded from keyring_file at start; the supervisor sends the workers each later version.
    keyring: Keyring | None = field(default=None, compare=False)
    # With a keyring: an intent without X-Key-Id may still pass with the shared secret (for any agent).
    keyring_allows_shared_secret: bool = False
    idempotency_ttl_s: float = 3600.0
    # corr_ids held in memory for that check (about 260 bytes each); beyond it the
    # stream's duplicate window still keeps the outputs exactly-once.
    idempotency_max_corr_ids: int = 100_000
    rate_limit_rps: float = 0.0
    replay_window_s: float = 300.0
    min_delay_ms: int = 100
    max_delay_ms: int = 2000
    partial_fill_chance: float = 0.1
    slippage_bps: float = 2.0
    # How orders meet the quote (worker/models): a book walked level by level, its level gap
    # (and sqrt_impact's cost) Y * daily_volatility * sqrt(quantity / adv) of the mid.
    slippage_model: str = "book"
    impact_coefficient: float = 1.0
    # A resting limit fills when the market trades through it; probabilistic: one behind the
    # touch may also fill when its own side reaches it, with this chance per order.
    queue_model: str = "risk_averse"
    queue_fill_chance: float = 0.5
    latency_model: str = "uniform"
    # lognormal: median extra delay over min_delay_ms at the reference volatility (2% a day).
    latency_median_ms: float = 150.0
    latency_sigma: float = 1.0
    # Share of the visible book (depth_levels levels) one child fill may take; 0 = unlimited.
    liquidity_share: float = 1.0
    liquidity_remainder: str = "fill"
    max_child_fills: int = 10
    commission_model: str = "bps"
    commission_bps: float = 0.5
    commission_per_unit: float = 0.0
    # Per order: the order's commissions add up to at least this once anything fills.
    commission_min: float = 0.0
    market_sessions: bool = True
    # A GTC order that the price has not reached by then expires.
    gtc_horizon_days: float = 7.0
    # Honour metadata.exec_sim_force (worker/directives.py); off: the key is ignored.
    forced_outcomes: bool = True
    # A limit or stop price off the tick, a quantity off the lot (worker/price_grid.py).
    off_grid: str = "reject"
    # An instrument the instruments file does not list: priced from [defaults] (accept) or
    # rejected as unlisted (reject).
    unlisted_instruments: str = "accept"
    # What a worker may keep of unlisted instruments' price paths, in MB (they are rebuilt on demand).
    unlisted_cache_mb: float = 32.0
    # Seeded venue faults (worker/faults.py): each a probability per intent, all off by default.
    fault_reject_probability: float = 0.0
    fault_latency_spike_probability: float = 0.0
    fault_latency_spike_ms: int = 5000
    fault_duplicate_fill_probability: float = 0.0
    fault_reconcile_delay_probability: float = 0.0
    # A delayed reconcile waits for its agent's next fill, at most this long.
    fault_reconcile_delay_max_ms: int = 10_000
    # Per instrument and window of market time.
    fault_halt_probability: float = 0.0
    fault_halt_window_s: int = 300
    # SIMULATION_INSTRUMENTS_FILE ("" = the shipped file).
    instruments_file: str = ""
    # Overrides of the file's reference prices: instrument -> price.
    reference_prices: Mapping[str, float] = field(default_factory=dict)
    instruments: InstrumentBook = field(default_factory=load_instruments, repr=False, compare=False)
    prometheus_multiproc_dir: str = "/tmp/prometheus_multiproc"
    log_level: str = "INFO"
    env: str = "development"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Added to the workers' nice value (with SCHED_BATCH) so the supervisor's releases win the CPU.
    worker_niceness: int = 5
    batch_size: int = 256
    # None: see `seed`.
    simulation_seed: str | None = None
    simulation_clock: str = "wall"
    max_intent_bytes: int = 1_048_576
    # Intents fetched but not yet acked, by this instance (the executing room: long orders apart).
    max_in_flight: int = 20_000
    # The part of max_in_flight one agent's intents count against; what an agent has
    # fetched beyond it waits over share (supervisor/agent_shares.py), at most
    # max_queued_over_share of them in all, so the fetch reads on past a flood.
    max_in_flight_agent_share: float = 0.25
    max_queued_over_share: int = 50_000
    # An accepted intent whose last event is due further off than this is a long order
    # (supervisor/long_orders.py): it holds the long-order room, not MAX_IN_FLIGHT's.
    long_order_after_s: float = 10.0
    max_long_orders: int = 20_000
    max_long_orders_per_agent: int = 2_000
    # The consumer's max_ack_pending when it is created: one cap on the intents in flight
    # of every instance bound to the durable together. -1: none, so each instance's
    # max_in_flight is its own bound and an instance killed with intents in flight holds
    # none of the others' room until they are redelivered.
    nats_max_ack_pending: int = -1
    # The stream's replicas when it is created (a JetStream cluster of at least as many servers).
    nats_stream_replicas: int = 1
    # Events due for publishing whose PubAck has not come back (fail-stop bound).
    max_pending_events: int = 1000
    fetch_timeout_s: float = 1.0
    publish_timeout_s: float = 5.0
    ack_wait_s: float = 60.0
    max_deliver: int = 10
    shutdown_timeout_s: float = 30.0
    connect_timeout_s: float = 30.0
    # Client authentication besides NATS_URL's user information ("" = not used). Paths only:
    # the secrets stay in their files, out of Settings, its repr and the workers' pickles.
    nats_creds_file: str = ""
    nats_nkey_seed_file: str = ""
    nats_tls_ca_file: str = ""
    nats_tls_cert_file: str = ""
    nats_tls_key_file: str = ""
    # The root of the client's reply subjects (pull answers, PubAcks, API replies). A prefix of
    # its own lets the NATS permissions keep other users from subscribing to the service's replies.
    nats_inbox_prefix: str = "_INBOX"

    def __repr__(self) -> str:
        """The dataclass repr, with the NATS URLs' credentials redacted: `at-exec-sim config` prints it.

        Written here, not generated (the dataclass keeps a __repr__ the class
        defines): the secret is already left out by repr=False.
        """
        shown = (f"{f.name}={redacted_urls(self.nats_urls) if f.name == 'nats_urls' else getattr(self, f.name)!r}"
                 for f in fields(self) if f.repr)
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def output_subjects(self) -> dict[str, str]:
        """OutboundEvent.kind -> the subject it is published on."""
        return {
            "fill": self.subject_fill,
            "reconcile": self.subject_reconcile,
            "order_update": self.subject_order_update,
        }

    @property
    def in_flight_per_agent(self) -> int:
        """Intents of one agent the executing room counts: its share of MAX_IN_FLIGHT."""
        return max(1, math.ceil(self.max_in_flight * self.max_in_flight_agent_share))

    @property
    def longest_execution_ms(self) -> int:
        """Receipt to last event of the slowest order: a random partial's remainder after a
        second delay, then child fills one interval apart; or child fills from the first."""
        partial_then_children = 2 * self.max_delay_ms
        children_only = self.max_delay_ms
        if self.liquidity_share > 0:
            partial_then_children += max(self.max_child_fills - 2, 0) * CHILD_FILL_INTERVAL_MS
            children_only += (self.max_child_fills - 1) * CHILD_FILL_INTERVAL_MS
        # Longer executions (forced delays, latency spikes, held reconciles, resting orders)
        # are kept alive with progress acks rather than by a longer ack_wait, which would
        # only slow the redelivery after a crash.
        return max(partial_then_children, children_only)

    @property
    def duplicate_window_s(self) -> float:
        """The stream's duplicate window when this service creates it."""
        return max(MIN_DUPLICATE_WINDOW_S, self.idempotency_ttl_s)

    @property
    def resting_fill_span_s(self) -> float:
        """How long a resting order may go on filling after its first fill: a redelivered
        order re-publishes every event, and the stream drops a repeat by its message id
        only within its duplicate window (a minute's margin for the redelivery itself)."""
        return self.duplicate_window_s - RESTING_SPAN_MARGIN_S

    @property
    def virtual_clock(self) -> bool:
        return self.simulation_clock == "virtual"

    @property
    def seed(self) -> bytes:
        """Key of every random draw: SIMULATION_SEED, else one fixed per deployment.

        Without SIMULATION_SEED the seed is the stream and durable names, so a
        restarted or second instance redoing an intent draws exactly what the
        first one drew, and its re-published events match the ones the stream
        already holds (the message ids drop them either way).
        """
        return (self.simulation_seed or f"{self.nats_stream}/{self.nats_durable}").encode()


# (heading, variables): the definition of every variable, in the order `at-exec-sim config` and
# docs/configuration.md list them.
VARIABLE_GROUPS: tuple[tuple[str, tuple[Variable, ...]], ...] = (*GROUPS, ("Market data", MARKET_VARIABLES))
VARIABLES = tuple(variable for _, group in VARIABLE_GROUPS for variable in group)
# variable -> (field, parser)
_VARIABLES: dict[str, tuple[str, Callable[[str, str], object]]] = {v.name: (v.field, v.parse) for v in VARIABLES}

ENVIRONMENT_VARIABLES = tuple(_VARIABLES)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (os.environ when None); raise ConfigError on a bad value."""
    source = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for variable, (name, parse_value) in _VARIABLES.items():
        raw = source.get(variable)
        if raw is None or (raw == "" and variable != "API_KEY_HMAC_SECRET"):
            continue
        values[name] = parse_value(variable, raw)
    if "ack_wait_s" not in values:
        # Unset: long enough for the slowest simulated execution to be published.
        draft = Settings(**values, instruments=_NO_BOOK)  # type: ignore[arg-type]
        slowest_s = draft.longest_execution_ms / 1000 + draft.publish_timeout_s
        values["ack_wait_s"] = max(Settings.ack_wait_s, slowest_s + 30)
    try:
        book = load_instruments(values.get("instruments_file") or None)  # type: ignore[arg-type]
        book = book.with_prices(values.get("reference_prices", {}))  # type: ignore[arg-type]
    except InstrumentsError as exc:
        raise ConfigError("SIMULATION_INSTRUMENTS_FILE", str(exc)) from None
    keyring_file = values.get("keyring_file")
    if keyring_file:
        try:
            values["keyring"] = load_keyring(keyring_file)  # type: ignore[arg-type]
        except KeyringError as exc:
            raise ConfigError("INTENT_KEYRING_FILE", str(exc)) from None
    settings = Settings(**values, instruments=book)  # type: ignore[arg-type]
    _check_cross_field(settings)
    return settings


# Stands in for the book where only the numeric fields matter.
_NO_BOOK = InstrumentBook(0, {}, {})


def _check_cross_field(s: Settings) -> None:
    if s.keyring is not None and s.keyring_allows_shared_secret and not s.hmac_secret:
        raise ConfigError(
            "INTENT_KEYRING_ALLOW_SHARED_SECRET",
            "on, but API_KEY_HMAC_SECRET is empty: intents without X-Key-Id would pass unsigned, as any agent",
        )
    if s.min_delay_ms > s.max_delay_ms:
        raise ConfigError(
            "SIMULATION_MIN_DELAY_MS",
            f"{s.min_delay_ms} is above SIMULATION_MAX_DELAY_MS={s.max_delay_ms}",
        )
    # A cap below one instance's bound is the silent cap max_ack_pending's default (1000) would be.
    if s.nats_max_ack_pending == 0 or 0 < s.nats_max_ack_pending < s.max_in_flight:
        raise ConfigError(
            "NATS_MAX_ACK_PENDING",
            f"{s.nats_max_ack_pending} must be -1 (no cap) or at least MAX_IN_FLIGHT={s.max_in_flight}",
        )
    _check_nats_auth(s)
    check_market_data(s, s.virtual_clock)
    if s.max_pending_events < 2:
        raise ConfigError("MAX_PENDING_EVENTS", "must be at least 2 (a fill and its reconcile)")
    # Long simulated executions must not outlive the server's redelivery timer.
    if s.longest_execution_ms / 1000 + s.publish_timeout_s >= s.ack_wait_s:
        raise ConfigError(
            "ACK_WAIT_SEC",
            f"{s.ack_wait_s:g} s is too short for SIMULATION_MAX_DELAY_MS={s.max_delay_ms} "
            f"and SIMULATION_MAX_CHILD_FILLS={s.max_child_fills} (needs more than the longest "
            f"execution, {s.longest_execution_ms / 1000:g} s, plus PUBLISH_TIMEOUT_SEC)",
        )


def _check_nats_auth(s: Settings) -> None:
    # A certificate without its key (or the reverse) would fail the TLS handshake at every connect.
    if bool(s.nats_tls_cert_file) != bool(s.nats_tls_key_file):
        missing = "NATS_TLS_KEY_FILE" if s.nats_tls_cert_file else "NATS_TLS_CERT_FILE"
        raise ConfigError(missing, "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE are set together (mutual TLS)")
    # nats-py signs with the credentials file and ignores a seed beside it: one identity, said once.
    if s.nats_creds_file and s.nats_nkey_seed_file:
        raise ConfigError("NATS_NKEY_SEED_FILE", "set NATS_CREDS_FILE or NATS_NKEY_SEED_FILE, not both")
