"""Claims: whose execution an order's first stored event is, when the stream says it had it already.

Runs in the supervisor process, on its event loop; used by supervisor/outbound.py. Owns one
question, asked only when an order's first event comes back from the stream as a duplicate: was
that first event stored for this very intent message (a redelivery, after a crash or a lost ack,
on this instance or another), or for another message under the same agent_id and corr_id (the
agent sent the order again, and this process's corr_id window does not know the first one: it
was restarted, or the first went to another instance)?

Every event carries the stream sequence of the intent it answers (Exec-Sim-Intent-Seq,
supervisor/wire.py's header_block), and an order's first event has the same message id
however it executed (worker/event_ids.py), so the stored first event names the message that
claimed the order. A redelivery goes on publishing: its events are the same bytes under the
same ids, and the duplicate window drops what was stored. A repeat must publish nothing
more: executed at another time, it can have other fills than the first execution had, and
those would be stored as fills of an order that was filled already.

The answer costs one request to the stream (a message get by sequence), only on a duplicate
first event. When it cannot be had (the stored event was deleted by the stream's limits, the
server did not answer), the order goes on as a redelivery would: what the duplicate window
drops stays dropped, and a warning says the check could not be made.
"""

from __future__ import annotations

import logging
from enum import Enum

from nats.js.client import JetStreamContext

from supervisor.wire import INTENT_SEQ_HEADER

log = logging.getLogger("at_exec_sim.supervisor")

GET_TIMEOUT_S = 2.0


class Claim(Enum):
    SAME_INTENT = "same_intent"  # a redelivery: go on
    OTHER_INTENT = "other_intent"  # a repeat of the corr_id: publish nothing more
    UNKNOWN = "unknown"  # the stored event could not be read: go on, as before the check


class StoredClaims:
    def __init__(self, js: JetStreamContext, stream: str) -> None:
        self._js = js
        self._stream = stream

    async def first_event_owner(self, stored_seq: int, intent_seq: int) -> Claim:
        """Whose is the stored event at `stored_seq`, the first event of the order the intent at
        `intent_seq` would have published?"""
        try:
            stored = await self._js.get_msg(self._stream, seq=stored_seq)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the question open
            log.warning("could not read an order's stored first event; going on as for a redelivery",
                        extra={"stream_seq": intent_seq, "stored_seq": stored_seq,
                               "error": f"{type(exc).__name__}: {exc}"})
            return Claim.UNKNOWN
        # Every event this service stores names its intent; one without is not this service's
        # (a publisher the NATS permissions should have kept out, docs/nats-access.md).
        owner = (stored.headers or {}).get(INTENT_SEQ_HEADER)
        return Claim.SAME_INTENT if owner == str(intent_seq) else Claim.OTHER_INTENT
