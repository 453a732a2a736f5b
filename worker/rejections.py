"""The closed set of rejection types (each rejection's error code is in common/error_codes.py).

Runs in the worker processes (building rejections) and the supervisor (metric
labels, logs). A rejected intent gets no execution event, one count in
exec_sim_validation_errors_total{type}, one log line, and a terminal ack.
"""

from __future__ import annotations

from common.messages import Rejection

TOO_LARGE = "too_large"
BAD_SIGNATURE = "bad_signature"
# Per-agent keys (worker/signer.py): no usable X-Key-Id, or a key signing for an agent it does not own.
UNKNOWN_KEY = "unknown_key"
AGENT_NOT_OWNED = "agent_not_owned"
MALFORMED_JSON = "malformed_json"
NOT_OBJECT = "not_object"
SCHEMA = "schema"
MISSING_PRICE = "missing_price"
STALE = "stale"
DUPLICATE = "duplicate"
# metadata.time_in_force or metadata.exec_sim_force that cannot be honoured (worker/directives.py).
INVALID_DIRECTIVE = "invalid_directive"
# An instrument the instruments file does not list, under SIMULATION_UNLISTED_INSTRUMENTS=reject.
UNLISTED_INSTRUMENT = "unlisted_instrument"
# A bug in the simulator, caught per intent so one bad intent cannot crash-loop a worker.
INTERNAL = "internal"
# Decided by the supervisor: a long order with no room left (supervisor/long_orders.py).
LONG_ORDER_ROOM = "long_order_room"

REJECTION_TYPES = (TOO_LARGE, BAD_SIGNATURE, MALFORMED_JSON, NOT_OBJECT, SCHEMA, MISSING_PRICE, STALE, INVALID_DIRECTIVE,
                   DUPLICATE, UNLISTED_INSTRUMENT, INTERNAL, UNKNOWN_KEY, AGENT_NOT_OWNED, LONG_ORDER_ROOM)


def reject(stream_seq: int, error_type: str, error_code: str, corr_id: str | None, detail: str) -> Rejection:
    """A Rejection with a detail short enough for one log line."""
    return Rejection(stream_seq, error_type, error_code, corr_id, detail[:300])
