"""The answers of one run, recorded on each intent's IntentRecord as they are read from the stream.

Runs in the loadgen process, on its asyncio loop (readback.py calls the three
handlers). Owns the matching of events to intents by corr_id; events of other
runs on the same stream are ignored. A fill whose fill_id was already seen is an
injected duplicate (worker/faults.py, duplicate_fill): counted, not answered
twice. Every event's metadata.faults is added to its intent's faults.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tools.loadgen.stats import IntentRecord
from worker.events import EXECUTED_STATUSES


class Answers:
    def __init__(self) -> None:
        self.records: dict[str, IntentRecord] = {}
        self.started = time.monotonic()
        self.events = 0  # events of this run read so far

    def _now(self) -> float:
        return time.monotonic() - self.started

    def _faults(self, record: IntentRecord, metadata: dict[str, Any]) -> None:
        faults = metadata.get("faults")
        if faults:
            record.faults.update(str(f) for f in faults)
            record.fault_s = record.fault_s if record.fault_s is not None else self._now()

    async def on_fill(self, msg: Any) -> None:
        body = orjson.loads(msg.data)
        record = self.records.get(body.get("corr_id"))
        if record is None:
            return  # not ours (another run on the same stream)
        self.events += 1
        metadata = body.get("metadata") or {}
        self._faults(record, metadata)
        fill_id = body.get("fill_id")
        if fill_id in record.fill_ids:
            record.duplicate_fills += 1
            record.faults.add("duplicate_fill")  # the copy carries the original's metadata, not the fault
            return
        record.fill_ids.add(fill_id)
        now = self._now()
        record.statuses.append(body["fill_status"])
        record.first_fill_s = record.first_fill_s if record.first_fill_s is not None else now
        # Against the mid: limit orders measure theirs against the limit (price improvement).
        if body["fill_status"] in EXECUTED_STATUSES and metadata.get("order_type") in ("market", "stop"):
            record.slippage_bps.append(float(metadata.get("slippage_bps", 0.0)))
        if body["fill_status"] != "partial":  # full, cancelled or rejected: the order is done
            record.final_s = now
            record.simulated_delay_ms = body.get("execution_latency_ms")

    async def on_reconcile(self, msg: Any) -> None:
        metadata = orjson.loads(msg.data).get("metadata") or {}
        corr_id = metadata.get("corr_id")
        record = self.records.get(corr_id) if isinstance(corr_id, str) else None
        if record is not None:
            self.events += 1
            record.reconciles += 1
            self._faults(record, metadata)

    async def on_order_update(self, msg: Any) -> None:
        body = orjson.loads(msg.data)
        record = self.records.get(body.get("corr_id"))
        if record is not None:
            self.events += 1
            metadata = body.get("metadata") or {}
            record.end_reason = metadata.get("reason_code") or body.get("status")
            self._faults(record, metadata)
