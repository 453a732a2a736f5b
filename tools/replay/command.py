"""`at-exec-sim replay` options, the selection they make, and the run from the command line.

Runs in the CLI process: parses the arguments, sets up logging (stderr; stdout
carries the JSON lines), runs the replay on one asyncio loop and turns how it
ended into an exit code. --since/--until are parsed to integer nanoseconds
(no float anywhere). Sequence and time bounds do not mix (exit 2).

Summary: one line on stderr at the end. Exit codes: 0 done, 2 bad arguments,
3 NATS or the stream unreachable (one line on stderr, no traceback), 130 on
Ctrl-C (the ephemeral consumer then expires by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from common.config import Settings
from common.logs import JsonLineFormatter
from common.messages import Rejection
from tools.replay.market import stored_market
from tools.replay.replayer import Replayer
from tools.replay.sinks import JsonLinesSink, PublishSink, Sink, Tally
from tools.replay.source import EPOCH, REQUEST_TIMEOUT_S, ReplayError, Selection, StoredIntents, connect

EXIT_OK = 0
EXIT_BAD_ARGUMENTS = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
_TOKEN = re.compile(r"[^\s.*>]+")


# -- arguments ------------------------------------------------------------------


def parse_time_ns(text: str) -> int:
    """RFC 3339 time -> epoch nanoseconds, exactly (fractions up to nanoseconds)."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time (e.g. 2024-05-01T12:00:00.250Z)")
    date, clock, fraction, zone = match.groups()
    try:
        stamp = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    seconds = (stamp - EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def _sequence(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a stream sequence (they start at 1)")
    return value


def _prefix(text: str) -> str:
    tokens = text.split(".")
    if not all(_TOKEN.fullmatch(token) for token in tokens):
        raise argparse.ArgumentTypeError(f"{text!r} is not a subject prefix (dot-separated tokens, no wildcards)")
    return text


DESCRIPTION = """\
Re-drive the intents stored in NATS_STREAM (subject NATS_SUBJECT_ORDER_INTENT)
through the simulator, in-process, and write what it does. With the service's
SIMULATION_SEED and SIMULATION_* settings the events are byte-identical to the
ones the service published. Nothing is acked; the service's consumer is not
touched. Without bounds the whole stream is read, up to its last sequence at
the start."""

EPILOG = """\
NATS: the replay connects as the service does, from the same environment:
NATS_URL, and NATS_CREDS_FILE, NATS_NKEY_SEED_FILE, NATS_TLS_CA_FILE,
NATS_TLS_CERT_FILE + NATS_TLS_KEY_FILE and NATS_INBOX_PREFIX when set.

--publish PREFIX publishes each event on PREFIX.<live subject> (for example
replay.executions.fill) with headers Nats-Msg-Id=PREFIX:<original id>, corr_id
and Replay-Of-Seq. It never uses the live subjects: downstream consumers would
receive the same fills twice. No stream stores PREFIX.> unless one is made to.

Exit status: 0 done, 2 bad arguments, 3 NATS or the stream unreachable (a
refused login or a certificate that cannot be used included).

examples:
  at-exec-sim replay --from-seq 1 --to-seq 1000 --output replay.jsonl
  at-exec-sim replay --since 2024-05-01T12:00:00Z --until 2024-05-01T13:00:00Z
  at-exec-sim replay --publish replay"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("--from-seq", type=_sequence, metavar="N", help="first stream sequence (inclusive)")
    parser.add_argument("--to-seq", type=_sequence, metavar="M", help="last stream sequence (inclusive)")
    parser.add_argument("--since", type=parse_time_ns, metavar="TIME",
                        help="first stored time, RFC 3339 (inclusive)")
    parser.add_argument("--until", type=parse_time_ns, metavar="TIME",
                        help="end of the stored times, RFC 3339 (exclusive)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--output", type=Path, metavar="FILE", help="write the JSON lines here instead of stdout")
    output.add_argument("--publish", type=_prefix, metavar="PREFIX",
                        help="publish each event on PREFIX.<live subject> instead of writing JSON lines")


def selection_from(args: argparse.Namespace) -> Selection:
    selection = Selection(args.from_seq, args.to_seq, args.since, args.until)
    by_seq = selection.from_seq is not None or selection.to_seq is not None
    by_time = selection.since_ns is not None or selection.until_ns is not None
    if by_seq and by_time:
        raise ValueError("choose sequences (--from-seq/--to-seq) or times (--since/--until), not both")
    if by_seq and selection.from_seq and selection.to_seq and selection.from_seq > selection.to_seq:
        raise ValueError(f"--from-seq {selection.from_seq} is after --to-seq {selection.to_seq}")
    if by_time and selection.since_ns and selection.until_ns and selection.since_ns >= selection.until_ns:
        raise ValueError("--since must be before --until")
    return selection


# -- the run ------------------------------------------------------------------------


async def replay(settings: Settings, selection: Selection, out: BinaryIO | None, prefix: str | None) -> Tally:
    """Read, simulate, write; return the counts. Raises ReplayError when NATS or the stream fails."""
    tally = Tally()
    nc = await connect(settings)
    try:
        if settings.market_data == "bus":  # priced from the whole stored series, as a file backtest is
            recorded = await stored_market(nc, settings)
            settings = dataclasses.replace(settings, market_data="file", recorded_market=recorded)
        replayer = Replayer(settings)
        sink: Sink = (PublishSink(nc, prefix, settings.output_subjects) if prefix is not None
                      else JsonLinesSink(out or sys.stdout.buffer, settings.output_subjects))
        intents = StoredIntents(nc, settings, selection)
        try:
            async for raw in intents:
                outcome = replayer.outcome(raw)
                tally.add(raw, outcome)
                if isinstance(outcome, Rejection):
                    await sink.rejection(outcome)
                else:
                    await sink.execution(outcome)
            await sink.close()
        finally:
            await intents.close()
    finally:
        try:
            await asyncio.wait_for(nc.close(), timeout=REQUEST_TIMEOUT_S)
        except Exception:
            pass  # the outcome is decided; a slow close changes nothing
    return tally


def _configure_logging(settings: Settings) -> None:
    """Log lines (a simulator bug, say) go to stderr: stdout carries the JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter(settings.service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    # asyncio warns at each TLS connection the server closes (nats-py's protocol ignores EOF):
    # a refused login retried until the timeout is said once, in the exit line.
    logging.getLogger("asyncio").setLevel(logging.ERROR)


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    try:
        selection = selection_from(args)
    except ValueError as exc:
        print(f"at-exec-sim replay: error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    _configure_logging(settings)
    try:
        out = open(args.output, "wb") if args.output is not None else None
    except OSError as exc:
        print(f"at-exec-sim replay: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    destination = (f"published on {args.publish}.>" if args.publish is not None
                   else f"written to {args.output}" if out is not None else "written to stdout")
    started = time.monotonic()
    try:
        tally = asyncio.run(replay(settings, selection, out, args.publish))
    except ReplayError as exc:
        print(f"at-exec-sim replay: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print("at-exec-sim replay: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): that ends the run, quietly. Python
        # flushes stdout again at exit, so point it somewhere that takes the rest.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        if out is not None:
            out.close()
    print(tally.summary(selection, destination, time.monotonic() - started), file=sys.stderr)
    return EXIT_OK
