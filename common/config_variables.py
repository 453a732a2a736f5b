"""Every environment variable of the service but the market source's: its field, parser and documentation.

Runs wherever Settings are loaded (the supervisor at start, the CLI's `config`,
the tool that writes docs/configuration.md). Owns the one definition of each
variable: common.config reads the environment through these entries (and
common.config_market's), `at-exec-sim config` lists them in this order, and
docs/configuration.md is generated from them, so adding a variable is one entry
here (or in common.config_market) beside its Settings field, and the page
cannot drift from what the service reads. Descriptions are Markdown; "see" a
page means a page of the documentation site.
"""

from __future__ import annotations

from common import config_fields as parse
from common.config_fields import Variable

SIMULATION_CLOCKS = ("wall", "virtual")
SLIPPAGE_MODELS = ("book", "uniform", "sqrt_impact")
QUEUE_MODELS = ("risk_averse", "probabilistic")
LATENCY_MODELS = ("uniform", "lognormal")
COMMISSION_MODELS = ("bps", "per_unit")
REMAINDER_POLICIES = ("fill", "cancel")
OFF_GRID_POLICIES = ("reject", "round", "accept")
UNLISTED_POLICIES = ("accept", "reject")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

SERVICE = (
    Variable("SERVICE_NAME", "service_name", parse.text, "name in logs"),
    Variable("PORT", "port", parse.integer(1, 65535), "HTTP port for /healthz and /metrics, on HTTP_HOST"),
    Variable("HTTP_HOST", "http_host", parse.text,
             "address the HTTP server binds: `0.0.0.0` every interface, `127.0.0.1` the loopback only "
             "(neither route asks for credentials)"),
    Variable("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", parse.text,
             "multiprocess metric files; wiped at start, so two instances on one host need one each "
             "([Operations](operations.md), scaling)"),
    Variable("LOG_LEVEL", "log_level", parse.choice(LOG_LEVELS, upper=True),
             "`DEBUG`, `INFO`, `WARNING` (rejections and failures only), `ERROR` or `CRITICAL`"),
    Variable("ENV", "env", parse.text, "the deployment's name (`development`, `production`, ...)"),
)

NATS = (
    Variable("NATS_URL", "nats_urls", parse.urls,
             "NATS server(s), comma-separated; user:password or a token in a URL is never logged or printed "
             "(shown as `***`)"),
    Variable("NATS_STREAM", "nats_stream", parse.jetstream_name, "JetStream stream (created if missing)"),
    Variable("NATS_DURABLE", "nats_durable", parse.jetstream_name, "durable pull consumer (created if missing)"),
    Variable("NATS_SUBJECT_ORDER_INTENT", "subject_order_intent", parse.subject, "input subject"),
    Variable("NATS_SUBJECT_FILL", "subject_fill", parse.subject, "fill subject"),
    Variable("NATS_SUBJECT_RECONCILE", "subject_reconcile", parse.subject, "reconcile subject"),
    Variable("NATS_SUBJECT_ORDER_UPDATE", "subject_order_update", parse.subject,
             "order update subject (orders not filled in full)"),
    Variable("NATS_CONNECT_TIMEOUT_SEC", "connect_timeout_s", parse.number(0.1, 3600),
             "how long the first connection is retried at start; a refusal (login, certificate) is named in the "
             "exit's log line"),
    Variable("NATS_CREDS_FILE", "nats_creds_file", parse.readable_file,
             "a NATS credentials file (user JWT + NKey seed) for an operator-mode server; not with "
             "NATS_NKEY_SEED_FILE"),
    Variable("NATS_NKEY_SEED_FILE", "nats_nkey_seed_file", parse.readable_file,
             "an NKey user's seed file; the server's nonce is signed with it"),
    Variable("NATS_TLS_CA_FILE", "nats_tls_ca_file", parse.readable_file,
             "PEM CA certificate(s) the server's certificate must chain to (instead of the system's)"),
    Variable("NATS_TLS_CERT_FILE", "nats_tls_cert_file", parse.readable_file,
             "PEM client certificate for mutual TLS; set with NATS_TLS_KEY_FILE"),
    Variable("NATS_TLS_KEY_FILE", "nats_tls_key_file", parse.readable_file,
             "its unencrypted PEM private key; set with NATS_TLS_CERT_FILE"),
    Variable("NATS_INBOX_PREFIX", "nats_inbox_prefix", parse.subject,
             "root of the reply subjects of the service (and of `loadgen` and `replay`, which read the same "
             "NATS_* settings); a prefix of its own lets NATS permissions keep other users off them "
             "(`deploy/nats.conf` gives the service `_INBOX_exec_sim` and each agent user its own)"),
    Variable("NATS_STREAM_REPLICAS", "nats_stream_replicas", parse.integer(1, 5),
             "the stream's replicas when it is created (1–5; needs a JetStream cluster of at least as many "
             "servers); the consumer follows the stream; an existing stream's count is warned about, not changed"),
    Variable("NATS_MAX_ACK_PENDING", "nats_max_ack_pending", parse.integer(-1, 100_000_000),
             "the consumer's max_ack_pending when it is created: one cap on the unacked intents of all instances "
             "sharing the durable together. A positive value below MAX_IN_FLIGHT is refused at start; one instance "
             "holds up to MAX_IN_FLIGHT + MAX_LONG_ORDERS + MAX_QUEUED_OVER_SHARE unacked, so with N instances a cap "
             "below N × that sum holds them back at the server (long orders take the executing room, the fetch "
             "stops at a flood's head)", default="-1 (no cap)"),
    Variable("ACK_WAIT_SEC", "ack_wait_s", parse.number(1, 86_400),
             "consumer ack_wait when it is created; must exceed the longest configured execution: 2 × MAX delay, "
             "or with limited liquidity the larger of 2 × MAX delay + (MAX_CHILD_FILLS − 2) s and MAX delay + "
             "(MAX_CHILD_FILLS − 1) s. Longer executions (a forced delay, a latency spike, a held reconcile, a "
             "resting order) are kept alive instead: an intent in flight for half of the consumer's ack_wait (an "
             "existing consumer's own) gets a progress ack (`+WPI`)",
             default="max(60, longest execution + PUBLISH_TIMEOUT_SEC + 30)"),
    Variable("MAX_DELIVER", "max_deliver", parse.integer(1, 1_000_000), "consumer max_deliver when it is created"),
)

INTAKE = (
    Variable("API_KEY_HMAC_SECRET", "hmac_secret", parse.secret,
             "when set, every intent needs `X-Signature: sha256=<hex HMAC-SHA256 of the body>` (with a keyring: "
             "see [Signing & tenants](signing-and-tenants.md))", default="(empty: off)"),
    Variable("INTENT_KEYRING_FILE", "keyring_file", parse.path,
             "per-agent keys (see [Signing & tenants](signing-and-tenants.md)): a TOML file of key ids, each with "
             "its secret and the agent_ids it signs for; intents name their key in `X-Key-Id`; re-read within about "
             "two seconds of a change, no restart; a bad file at start is exit code 2", default="(empty: none)"),
    Variable("INTENT_KEYRING_ALLOW_SHARED_SECRET", "keyring_allows_shared_secret", parse.switch,
             "with a keyring, `on` lets an intent without `X-Key-Id` pass with API_KEY_HMAC_SECRET (for any "
             "agent_id), for a migration from the one secret to keys; needs API_KEY_HMAC_SECRET"),
    Variable("IDEMPOTENCY_TTL_SEC", "idempotency_ttl_s", parse.number(0),
             "a corr_id an agent_id had filled within this window is not filled again for that agent_id (another "
             "agent_id may use the same corr_id); a created stream's duplicate window is max(120 s, this)"),
    Variable("IDEMPOTENCY_MAX_CORR_IDS", "idempotency_max_corr_ids", parse.integer(1, 100_000_000),
             "(agent_id, corr_id) pairs the supervisor remembers for that check (about 270 bytes each with "
             "12-character corr_ids, 290 with 36: `python bench/corr_id_window.py`), oldest dropped first; beyond "
             "them the stream's duplicate window still drops the repeated outputs"),
    Variable("RATE_LIMIT_RPS", "rate_limit_rps", parse.number(0),
             "intents per second taken from the stream (0: off); the excess waits in the stream"),
    Variable("REPLAY_WINDOW_SEC", "replay_window_s", parse.number(0),
             "intents whose timestamp is further than this from receipt, either way, are rejected (0: off; wall "
             "clock only)"),
    Variable("MAX_INTENT_BYTES", "max_intent_bytes", parse.integer(256, 64 * 1_048_576),
             "larger bodies are rejected (`too_large`)"),
)

SIMULATION = (
    Variable("SIMULATION_MIN_DELAY_MS", "min_delay_ms", parse.integer(0, 3_600_000),
             "shortest execution delay (the floor of the log-normal model too)"),
    Variable("SIMULATION_MAX_DELAY_MS", "max_delay_ms", parse.integer(0, 3_600_000),
             "longest execution delay (the cap of the log-normal model too)"),
    Variable("SIMULATION_LATENCY_MODEL", "latency_model", parse.choice(LATENCY_MODELS),
             "`uniform` in the range, or `lognormal` (heavy tail, scale grows with volatility)"),
    Variable("SIMULATION_LATENCY_MEDIAN_MS", "latency_median_ms", parse.number(0, 3_600_000),
             "log-normal: median above the minimum at 2% daily volatility"),
    Variable("SIMULATION_LATENCY_SIGMA", "latency_sigma", parse.number(0, 10), "log-normal: shape"),
    Variable("SIMULATION_PARTIAL_FILL_CHANCE", "partial_fill_chance", parse.number(0, 1),
             "probability that an order fills partially at random"),
    Variable("SIMULATION_SLIPPAGE_MODEL", "slippage_model", parse.choice(SLIPPAGE_MODELS),
             "`book` (walk the book's levels, one fill per level), `sqrt_impact` (the touch + square-root impact "
             "of the parent order) or `uniform` (the touch + up to SIMULATION_SLIPPAGE_BPS, a stress setting)"),
    Variable("SIMULATION_SLIPPAGE_BPS", "slippage_bps", parse.number(0, 10_000),
             "uniform model: maximum slippage beyond the touch, basis points of the mid (whole ticks)"),
    Variable("SIMULATION_IMPACT_COEFFICIENT", "impact_coefficient", parse.number(0, 100),
             "Y in `Y × daily_volatility × √(quantity / ADV)`: the book's level gap and sqrt_impact's cost"),
    Variable("SIMULATION_QUEUE_MODEL", "queue_model", parse.choice(QUEUE_MODELS),
             "how a resting limit fills: `risk_averse` (only when the market trades through it) or "
             "`probabilistic` (also from the queue, see [Simulation model](simulation.md))"),
    Variable("SIMULATION_QUEUE_FILL_CHANCE", "queue_fill_chance", parse.number(0, 1),
             "probabilistic queue: chance per order that a limit resting behind the touch fills when its side "
             "reaches it"),
    Variable("SIMULATION_LIQUIDITY_SHARE", "liquidity_share", parse.number(0, 1000),
             "share of the visible book (depth_levels levels) one child fill may take; 0: unlimited"),
    Variable("SIMULATION_LIQUIDITY_REMAINDER", "liquidity_remainder", parse.choice(REMAINDER_POLICIES),
             "what is beyond the liquidity: `fill` in child fills a second apart, or `cancel`"),
    Variable("SIMULATION_MAX_CHILD_FILLS", "max_child_fills", parse.integer(1, 1000),
             "child fills per order at most (each reports one fill per price level it takes); the rest is "
             "cancelled"),
    Variable("SIMULATION_COMMISSION_MODEL", "commission_model", parse.choice(COMMISSION_MODELS),
             "`bps` of the notional, or `per_unit` (per share or contract)"),
    Variable("SIMULATION_COMMISSION_BPS", "commission_bps", parse.number(0, 10_000),
             "bps model: commission, basis points of the notional"),
    Variable("SIMULATION_COMMISSION_PER_UNIT", "commission_per_unit", parse.number(0),
             "per_unit model: commission per unit filled"),
    Variable("SIMULATION_COMMISSION_MIN", "commission_min", parse.number(0),
             "minimum commission per order (once anything fills)"),
    Variable("SIMULATION_MARKET_SESSIONS", "market_sessions", parse.switch,
             "`on`: orders outside their instrument's trading session are rejected (`market_closed`); `off`: "
             "always open"),
    Variable("SIMULATION_GTC_HORIZON_DAYS", "gtc_horizon_days", parse.number(0.001, 366),
             "a GTC order the price has not reached by then expires (a longer horizon costs worker CPU for orders "
             "the price never reaches: the scan reads every second of it, about 18 ms per 23,400 seconds the first "
             "time)"),
    Variable("SIMULATION_FORCED_OUTCOMES", "forced_outcomes", parse.switch,
             "`on`: an intent's `metadata.exec_sim_force` scripts its outcome (see "
             "[Strategy testing](strategy-testing.md)); `off`: the key is ignored, for deployments that must not "
             "let clients choose"),
    Variable("SIMULATION_OFF_GRID", "off_grid", parse.choice(OFF_GRID_POLICIES),
             "a limit or stop price off the instrument's tick, or a quantity off its lot: `reject` "
             "(`price_off_tick`, `quantity_off_lot`), `round` (onto the grid, never to the trader's advantage), or "
             "`accept` (as sent); see [Simulation model](simulation.md)"),
    Variable("SIMULATION_UNLISTED_INSTRUMENTS", "unlisted_instruments", parse.choice(UNLISTED_POLICIES),
             "an instrument the instruments file does not list: `accept` prices it from `[defaults]`; `reject` "
             "refuses it (`unlisted_instrument`, EXEC-014), for a venue that trades only what it lists"),
    Variable("SIMULATION_UNLISTED_CACHE_MB", "unlisted_cache_mb", parse.number(1, 65_536),
             "what each worker may keep of unlisted instruments' price paths (at most 112 KiB each; one dropped is "
             "rebuilt on demand with the same prices), so clients inventing names cannot grow a worker's memory"),
    Variable("SIMULATION_INSTRUMENTS_FILE", "instruments_file", parse.path, "your own instruments file",
             default="(the shipped `common/instruments.toml`)"),
    Variable("SIMULATION_REFERENCE_PRICES", "reference_prices", parse.reference_prices,
             "overrides of the file's reference prices, `EURUSD=1.09,AAPL=190`", default="(from the file)"),
    Variable("SIMULATION_SEED", "simulation_seed", parse.optional_seed,
             "key of every random draw; unset: the stream and durable names (see "
             "[Simulation model](simulation.md), Determinism)", default="(unset)"),
    Variable("SIMULATION_CLOCK", "simulation_clock", parse.choice(SIMULATION_CLOCKS),
             "`wall`, or `virtual`: timestamps from the intent's own time, events released at once"),
)

FAULTS = (
    Variable("FAULT_REJECT_PROBABILITY", "fault_reject_probability", parse.number(0, 1),
             "share of orders the venue rejects at arrival (`venue_reject`)"),
    Variable("FAULT_LATENCY_SPIKE_PROBABILITY", "fault_latency_spike_probability", parse.number(0, 1),
             "share of orders that reach the venue FAULT_LATENCY_SPIKE_MS later"),
    Variable("FAULT_LATENCY_SPIKE_MS", "fault_latency_spike_ms", parse.integer(1, 3_600_000),
             "how much later a latency spike makes an order reach the venue"),
    Variable("FAULT_DUPLICATE_FILL_PROBABILITY", "fault_duplicate_fill_probability", parse.number(0, 1),
             "share of orders whose first fill is reported twice (same bytes, another message id)"),
    Variable("FAULT_RECONCILE_DELAY_PROBABILITY", "fault_reconcile_delay_probability", parse.number(0, 1),
             "share of orders whose first reconcile is held until the agent's next fill is stored"),
    Variable("FAULT_RECONCILE_DELAY_MAX_MS", "fault_reconcile_delay_max_ms", parse.integer(1, 3_600_000),
             "how long a held reconcile waits for that fill at most"),
    Variable("FAULT_HALT_PROBABILITY", "fault_halt_probability", parse.number(0, 1),
             "chance that an instrument is halted for a window of market time"),
    Variable("FAULT_HALT_WINDOW_SEC", "fault_halt_window_s", parse.integer(1, 86_400),
             "the length of a halt window (windows aligned to the epoch)"),
)

CAPACITY = (
    Variable("WORKERS", "workers", parse.integer(1, 256), "simulator worker processes", default="CPU count"),
    Variable("WORKER_NICENESS", "worker_niceness", parse.integer(0, 19),
             "added to the workers' nice value (0: off), and the workers run as SCHED_BATCH: under contention the "
             "supervisor gets the CPU first, since its lateness is a late fill while a worker's hides inside the "
             "simulated delay"),
    Variable("BATCH_SIZE", "batch_size", parse.integer(1, 10_000), "intents per pull request (two are open at once)"),
    Variable("MAX_IN_FLIGHT", "max_in_flight", parse.integer(1, 1_000_000),
             "the executing room: intents fetched and not yet acked, per instance, long orders and intents over "
             "their agent's share apart (see [Signing & tenants](signing-and-tenants.md)); with delays it bounds "
             "the rate at about MAX_IN_FLIGHT ÷ the mean execution time (Little's law: about 19,000/s at the "
             "default 100–2000 ms)"),
    Variable("MAX_IN_FLIGHT_AGENT_SHARE", "max_in_flight_agent_share", parse.number(0, 1, lo_open=True),
             "the part of MAX_IN_FLIGHT one `agent_id`'s intents count against (0 < share ≤ 1); what an agent has "
             "fetched beyond it is over share"),
    Variable("MAX_QUEUED_OVER_SHARE", "max_queued_over_share", parse.integer(0, 10_000_000),
             "intents fetched beyond their agents' shares, per instance; the fetch reads on past one agent's flood "
             "until this many wait (0: it stops at the first)"),
    Variable("LONG_ORDER_AFTER_SEC", "long_order_after_s", parse.number(0, 86_400),
             "an accepted intent whose last event is due more than this after its simulation is a long order (a "
             "resting DAY/GTC order, a long forced delay, a reconcile held longer than this): it holds the "
             "long-order room instead of the executing room (see [Signing & tenants](signing-and-tenants.md))"),
    Variable("MAX_LONG_ORDERS", "max_long_orders", parse.integer(0, 10_000_000),
             "long orders in flight per instance; past it new long orders are refused (EXEC-017) and /healthz "
             "says `degraded`"),
    Variable("MAX_LONG_ORDERS_PER_AGENT", "max_long_orders_per_agent", parse.integer(0, 10_000_000),
             "long orders one `agent_id` may hold per instance; past it that agent's new long orders are refused "
             "(EXEC-017)"),
    Variable("MAX_PENDING_EVENTS", "max_pending_events", parse.integer(1, 1_000_000),
             "events published and awaiting a PubAck; at the bound, fetching and releasing pause (EXEC-006)"),
    Variable("FETCH_TIMEOUT_SEC", "fetch_timeout_s", parse.number(0.01, 60), "expiry of one pull request"),
    Variable("PUBLISH_TIMEOUT_SEC", "publish_timeout_s", parse.number(0.05, 300),
             "PubAck wait before the same-id retry"),
    Variable("SHUTDOWN_TIMEOUT_SEC", "shutdown_timeout_s", parse.number(0, 3600),
             "how long SIGTERM waits for in-flight intents"),
)

# (heading, variables) in the order `at-exec-sim config` lists them; common.config appends the market source's.
GROUPS = (
    ("Service, HTTP and logs", SERVICE),
    ("NATS", NATS),
    ("Signing, idempotency and intake", INTAKE),
    ("Simulation", SIMULATION),
    ("Seeded venue faults", FAULTS),
    ("Capacity and timeouts", CAPACITY),
)
