"""Where a replay's outcomes go: JSON lines or --publish, and the counts for the summary.

Runs in the CLI process, on the replay's asyncio loop. A sink owns its output
(the file or stdout it writes, or the publishes it makes on the connection it
is given); the Tally owns the counts.

- JSON lines (default, stdout or --output FILE): one line per event,
  {"stream_seq", "corr_id", "kind", "subject", "msg_id", "event"}, the event
  embedded byte-for-byte as published (orjson.Fragment); one line per rejection,
  {"stream_seq", "corr_id", "rejection", "error_code", "detail"}. Intents in
  stream order, each intent's events in their order.
- --publish PREFIX: every event is published on PREFIX.<its live subject>
  (replay.executions.fill, say), never on the live subject itself: that would
  feed every downstream consumer the same fills a second time. Core NATS
  publishes with one flush at the end; no stream captures PREFIX.> unless
  someone makes one, which keeps the live stream clean. Headers:
  Nats-Msg-Id = PREFIX:<original msg id> (prefixed so that, should a stream
  capture both, a replayed event never collides with the live event in the
  duplicate window; deterministic, so running the same replay twice into a
  capturing stream stores it once: use another prefix to keep two runs apart),
  corr_id, Replay-Of-Seq (the intent's stream sequence) and, as live, Exec-Sim-Fault
  on an event an injected venue fault shaped (a replay holds no reconcile back:
  it has no timing). Rejections are
  not published (they never were), only counted.
- Summary: the Tally's one line, written on stderr at the end of the run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

import orjson
from nats.aio.client import Client as NATS

from common.messages import Execution, RawIntent, Rejection
from tools.replay.source import REQUEST_TIMEOUT_S, Selection, nats_step


class Sink(Protocol):
    async def execution(self, execution: Execution) -> None: ...
    async def rejection(self, rejection: Rejection) -> None: ...
    async def close(self) -> None: ...


class JsonLinesSink:
    def __init__(self, out: BinaryIO, subjects: dict[str, str]) -> None:
        self._out = out
        self._subjects = subjects

    async def execution(self, execution: Execution) -> None:
        for event in execution.events:
            self._out.write(orjson.dumps({
                "stream_seq": execution.stream_seq,
                "corr_id": execution.corr_id,
                "kind": event.kind,
                "subject": self._subjects[event.kind],
                "msg_id": event.msg_id,
                "event": orjson.Fragment(event.payload),  # the published bytes, not a re-encoding
            }, option=orjson.OPT_APPEND_NEWLINE))

    async def rejection(self, rejection: Rejection) -> None:
        self._out.write(orjson.dumps({
            "stream_seq": rejection.stream_seq,
            "corr_id": rejection.corr_id,
            "rejection": rejection.error_type,
            "error_code": rejection.error_code,
            "detail": rejection.detail,
        }, option=orjson.OPT_APPEND_NEWLINE))

    async def close(self) -> None:
        self._out.flush()


class PublishSink:
    def __init__(self, nc: NATS, prefix: str, subjects: dict[str, str]) -> None:
        self._nc = nc
        self._prefix = prefix
        self._subjects = {kind: f"{prefix}.{subject}" for kind, subject in subjects.items()}

    async def execution(self, execution: Execution) -> None:
        with nats_step("publishing failed"):
            for event in execution.events:
                headers = {
                    "Nats-Msg-Id": f"{self._prefix}:{event.msg_id}",
                    "corr_id": execution.corr_id,
                    "Replay-Of-Seq": str(execution.stream_seq),
                }
                if event.faults:
                    headers["Exec-Sim-Fault"] = ",".join(event.faults)
                await self._nc.publish(self._subjects[event.kind], event.payload, headers=headers)

    async def rejection(self, rejection: Rejection) -> None:
        pass  # the service published nothing for it either

    async def close(self) -> None:
        with nats_step("flushing the published events failed"):
            await self._nc.flush(timeout=int(REQUEST_TIMEOUT_S))  # nats-py types it as whole seconds


@dataclass
class Tally:
    intents: int = 0
    executed: int = 0
    events: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_seq: int | None = None
    last_seq: int | None = None

    def add(self, raw: RawIntent, outcome: Execution | Rejection) -> None:
        self.intents += 1
        self.first_seq = raw.stream_seq if self.first_seq is None else self.first_seq
        self.last_seq = raw.stream_seq
        if isinstance(outcome, Rejection):
            self.rejected[outcome.error_type] += 1
        else:
            self.executed += 1
            self.events += len(outcome.events)

    def summary(self, selection: Selection, destination: str, seconds: float) -> str:
        seqs = f" (seq {self.first_seq}..{self.last_seq})" if self.first_seq is not None else ""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.rejected.items()))
        rejected = sum(self.rejected.values())
        return (f"at-exec-sim replay: {selection.describe()}: {self.intents} intents read{seqs}, "
                f"{self.executed} executed, {rejected} rejected{f' ({kinds})' if kinds else ''}, "
                f"{self.events} events {destination}, {seconds:.2f} s")
