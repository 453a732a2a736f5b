"""What crosses the process boundary between the supervisor and its workers.

Small frozen dataclasses only; a failure inside a worker travels back as data
(`WorkerCrashed`), never as a pickled exception, so the supervisor decides what
to do with it. The supervisor sends `IntentBatch`; a worker answers each batch
with one `BatchResult` holding one outcome per intent, in the batch's order: an
`Execution` (events to publish), a `Rejection` (terminal ack, no events) or, under
MARKET_DATA=bus, an `AwaitingMarket` (sent again with more market data). A
`KeyringUpdate` on a worker's inbox replaces the keyring its validator uses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TypeVar

from common.keyring import Keyring

T = TypeVar("T")


def _pickles_as_tuple(cls: type[T]) -> type[T]:
    """Pickle as (class, field values): frozen slotted dataclasses otherwise call
    dataclasses.fields() per object, which showed in the supervisor's profile."""
    values = attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]

    def __reduce__(self: T) -> tuple[type[T], tuple[object, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign, assignment]
    return cls


# RawIntent.signature of a header block that names X-Signature ambiguously (supervisor/headers.py).
# It cannot be a header's value (a value never holds CR LF), so no client can send it, and it never
# verifies: it does not start with "sha256=".
AMBIGUOUS_SIGNATURE = "\r\nambiguous X-Signature\r\n"
# The same for X-Key-Id: names no key.
AMBIGUOUS_KEY_ID = "\r\nambiguous X-Key-Id\r\n"


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class RawIntent:
    """One message as fetched: nothing parsed yet."""

    stream_seq: int
    body: bytes
    # Value of the X-Signature header (supervisor/headers.py), None when absent,
    # AMBIGUOUS_SIGNATURE when given twice or malformed.
    signature: str | None
    # When the stream stored it (epoch ms): "now" for the replay window and the
    # base of the event timestamps under the wall clock. Taken from the stream,
    # not the fetch, so a redelivery or a replay sees the same instant.
    received_at_ms: int
    # Value of the X-Key-Id header, read by the same rule (AMBIGUOUS_KEY_ID when given twice);
    # None when absent. Only looked at with INTENT_KEYRING_FILE set.
    key_id: str | None = None
    # MARKET_DATA=bus: the market data this pass may price from (worker.market_slice): what was
    # known when the supervisor sent it, and the records of the intent's instrument it needs.
    # None on the first pass, which only learns the instrument and the instant it arrives at.
    market: bytes | None = None
    # MARKET_DATA=bus: set by the worker on the intent an AwaitingMarket sends back (its first pass
    # accepted it), so a later pass checks again only what the keyring answers (worker.validation).
    accepted: bool = False


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class IntentBatch:
    batch_id: int
    intents: tuple[RawIntent, ...]


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """An encoded fill or reconcile, ready to publish."""

    kind: str  # "fill" | "reconcile" | "order_update": Settings.output_subjects maps it to a subject
    msg_id: str  # Nats-Msg-Id: from agent_id, corr_id and the event's place in the order (worker.event_ids.msg_id)
    payload: bytes
    # Release offset from the intent's receipt under the wall clock.
    release_after_ms: int
    # fills: "full" | "partial" | "cancelled" | "rejected"; order updates: "cancelled" | "rejected"
    fill_type: str | None = None
    # The injected venue faults this event carries (worker/faults.py), in the order they
    # struck; sent comma-joined as the Exec-Sim-Fault header. Empty for a normal event.
    faults: tuple[str, ...] = ()


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class Execution:
    """A valid intent and the events its simulated execution produces, in order."""

    stream_seq: int
    corr_id: str
    instrument: str
    order_type: str
    final_status: str  # the order's last fill_status
    simulation_delay_ms: int
    events: tuple[OutboundEvent, ...]
    simulation_s: float  # CPU time the simulation took in the worker
    # With corr_id, the key of the supervisor's corr_id window: a corr_id is its agent's own.
    agent_id: str = ""
    # Venue faults injected into this order (worker/faults.py), each once.
    faults: tuple[str, ...] = ()
    # Why an order short of a full fill ended (its last fill's metadata.reason_code); "" when filled in full.
    ending_code: str = ""


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class Rejection:
    """An intent that gets no execution: counted, logged, terminally acked."""

    stream_seq: int
    error_type: str  # closed set: worker.rejections.REJECTION_TYPES
    error_code: str  # EXEC-xxx, stable across releases
    corr_id: str | None
    detail: str


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class MarketWatch:
    """A resting order on the bus: it can fill at the first record whose `side` ("bid", "ask" or
    "mid") is >= level (above) or <= level (not above); the supervisor looks at each record as it
    comes (supervisor/market_waits.py), by the rule of worker.quote_tape."""

    level: float
    above: bool
    side: str


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class AwaitingMarket:
    """MARKET_DATA=bus: the intent cannot be priced from what is known yet. Sent back whole, to
    come again (worker.market_slice) once the bus has stored the data up to `need_ms`, or, with a
    watch, the first record that crosses it; no event, nothing counted yet."""

    stream_seq: int
    raw: RawIntent
    instrument: str  # its key (common.instruments.normalize), the token of its quote subject
    need_ms: int  # epoch ms of market time: priced again once every record up to it is stored
    watch: MarketWatch | None = None


Outcome = Execution | Rejection | AwaitingMarket


@_pickles_as_tuple
@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_id: int
    worker_id: int
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True, slots=True)
class KeyringUpdate:
    """The keyring file changed (supervisor/keyring_watch.py): check intents after this one with it."""

    keyring: Keyring


@dataclass(frozen=True, slots=True)
class WorkerReady:
    worker_id: int
    pid: int


@dataclass(frozen=True, slots=True)
class WorkerCrashed:
    """A worker caught an unexpected exception while handling a batch or booting."""

    worker_id: int
    batch_id: int | None  # None: failed while booting
    error: str
