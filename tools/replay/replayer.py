"""One stored intent -> its outcome, decided as the live service decides it.

Runs in the CLI process, synchronously inside the replay's loop (no pool: the
worker path runs in-process). It owns the replay's IntentProcessor and its
CorrIdWindow.

Duplicates. The service rejects an agent's corr_id seen within IDEMPOTENCY_TTL_SEC
(another agent may use the same corr_id);
the replay mirrors that with the same CorrIdWindow, claimed in stream order
with the stored time (seconds) as its clock, so a duplicate inside the
replayed range is a "duplicate" rejection (EXEC-010) as it was live.
Duplicates of corr_ids stored before the range are not known to the replay:
such an intent is executed here although the service rejected it. The
service claims in the order its workers answer, which is stream order except
when two copies of one corr_id arrive in the same fetch and land in
different worker chunks; only then can the two disagree on which copy won.
"""

from __future__ import annotations

from common.config import Settings
from common.error_codes import DUPLICATE_CORR_ID
from common.messages import AwaitingMarket, Execution, RawIntent, Rejection
from supervisor.idempotency import CorrIdWindow
from worker.process import IntentProcessor
from worker.rejections import DUPLICATE, reject


class Replayer:
    """RawIntent -> outcome, as the service decides it: worker path, then the corr_id window."""

    def __init__(self, settings: Settings) -> None:
        self._processor = IntentProcessor(settings, settings.seed)
        self._corr_ids = CorrIdWindow(settings.idempotency_ttl_s, settings.idempotency_max_corr_ids)

    def outcome(self, raw: RawIntent) -> Execution | Rejection:
        outcome = self._processor.process(raw)
        if isinstance(outcome, AwaitingMarket):
            # A replay prices from the whole stored series (Settings.recorded_market), never in passes.
            raise RuntimeError("replay of MARKET_DATA=bus needs the stored market data as tapes")
        if isinstance(outcome, Rejection):
            return outcome
        # The stored time stands in for the service's clock at collection.
        if self._corr_ids.claim(outcome.agent_id, outcome.corr_id, raw.stream_seq, raw.received_at_ms / 1000) is not None:
            # Same type, code and detail as supervisor.collect.Collector.collect_loop.
            return reject(raw.stream_seq, DUPLICATE, DUPLICATE_CORR_ID, outcome.corr_id,
                          f"corr_id already filled for agent_id {outcome.agent_id} within IDEMPOTENCY_TTL_SEC")
        return outcome
