"""`at-exec-sim replay`: re-drive intents stored in the stream through the simulator.

Runs in the CLI process (`at-exec-sim replay`; the integration tests run the
command), on its own (no service, no pool, no durable consumer). It needs no
more than the service's own dependencies; it borrows the service's code for
the parts that must agree (worker.process.IntentProcessor,
supervisor.idempotency.CorrIdWindow, supervisor.inflight.delivery_of):

    stream ──(ephemeral pull consumer, no acks)──► RawIntent ──► IntentProcessor
           ──► corr_id window ──► JSON lines (stdout / --output) or PREFIX.<subject> (--publish)

It owns an ephemeral consumer for the length of the run and nothing else: it
never acks, never touches the service's durable consumer, never publishes on a
live subject. What it shows is what the simulator did, or would do, for a
stored range, and with the same seed and SIMULATION_* settings as the service
the events are byte-identical to the ones the service published (a
determinism check: compare them by msg_id). "The same settings" includes
SIMULATION_CLOCK and, when SIMULATION_SEED is unset, NATS_STREAM and
NATS_DURABLE, which then make the seed (Settings.seed).

The choices are written down where they are made:

- source.py: connecting, reading (the ephemeral consumer, the end bounds,
  which ends are inclusive) and the stored time each intent carries.
- replayer.py: the worker path and duplicates (the corr_id window, and where
  it can disagree with the service).
- sinks.py: the JSON lines, --publish (subjects and headers) and the summary.
- command.py: the options, the selection, and the exit codes.
"""

from tools.replay.command import add_arguments, run_replay

__all__ = ["add_arguments", "run_replay"]
