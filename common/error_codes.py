"""Every EXEC-xxx error code, with its meaning: the one place they are defined.

Imported by the worker processes (rejections, worker/rejections.py) and the
supervisor process (publish failures, the pending-event bound, NATS
unavailable). A failure's log line carries one of these as `error_code`; they
are stable across releases, and the documentation's Errors page (docs/errors.md)
publishes the same table (tests/unit/common/test_error_codes.py compares them).
"""

from __future__ import annotations

SCHEMA_INVALID = "EXEC-001"
PUBLISH_FAILED = "EXEC-002"
CORR_ID_INVALID = "EXEC-003"
INSTRUMENT_INVALID = "EXEC-004"
ORDER_TYPE_INVALID = "EXEC-005"
BUFFER_FULL = "EXEC-006"
SIMULATION_OVER_BUDGET = "EXEC-007"  # reserved
CONSUMER_LAG = "EXEC-008"  # reserved
QUANTITY_INVALID = "EXEC-009"
DUPLICATE_CORR_ID = "EXEC-010"
DEGRADED = "EXEC-011"  # reserved
NATS_UNAVAILABLE = "EXEC-012"
INTERNAL_ERROR = "EXEC-013"
INSTRUMENT_NOT_LISTED = "EXEC-014"
# Per-agent keys (INTENT_KEYRING_FILE): who signed, and whether the signer may speak for the agent.
KEY_UNKNOWN = "EXEC-015"
SIGNER_NOT_OWNER = "EXEC-016"
LONG_ORDER_REFUSED = "EXEC-017"
# Rejections that are not about one field (size, signature, JSON, staleness): the schema's code.
ENVELOPE_INVALID = SCHEMA_INVALID

MEANINGS: dict[str, str] = {
    SCHEMA_INVALID: "intent fails schema validation, or its envelope is bad (size, signature, JSON), "
                    "or it is stale or lacks a price",
    PUBLISH_FAILED: "publishing a fill, reconcile or order update failed (retried with the same message id)",
    CORR_ID_INVALID: "corr_id missing or unreadable",
    INSTRUMENT_INVALID: "instrument malformed",
    ORDER_TYPE_INVALID: "order type not supported",
    BUFFER_FULL: "pending-event buffer full (fetching pauses; nothing is dropped)",
    SIMULATION_OVER_BUDGET: "a simulation exceeded its time budget (reserved)",
    CONSUMER_LAG: "consumer lag above its threshold (reserved)",
    QUANTITY_INVALID: "quantity zero, negative or not a number",
    DUPLICATE_CORR_ID: "duplicate corr_id from the same agent_id within IDEMPOTENCY_TTL_SEC",
    DEGRADED: "degraded: connected but errors or latency high (reserved)",
    NATS_UNAVAILABLE: "unavailable: NATS disconnected",
    INTERNAL_ERROR: "internal error while simulating an intent (a bug: reported, terminally acked)",
    INSTRUMENT_NOT_LISTED: "instrument not in the instruments file (SIMULATION_UNLISTED_INSTRUMENTS=reject)",
    KEY_UNKNOWN: "X-Key-Id missing, ambiguous or not in the keyring (INTENT_KEYRING_FILE set)",
    SIGNER_NOT_OWNER: "the intent's agent_id is not one its signing key may sign for",
    LONG_ORDER_REFUSED: "long order refused: its agent holds MAX_LONG_ORDERS_PER_AGENT long orders, "
                        "or the long-order room (MAX_LONG_ORDERS) is full",
}
