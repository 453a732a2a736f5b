"""Worker CPU per intent of each MARKET_DATA=bus pass, beside one MARKET_DATA=synthetic pass.

Runs in one process, no NATS: the pure worker path (worker.process.IntentProcessor)
and the supervisor's bookkeeping (supervisor.market_waits.MarketWaits) as
bench/market_bus.py's throughput part drives them: market orders in turn over
--instruments instruments (the instruments file's listed ones, then unlisted
BMKxx), sessions off, unlimited liquidity, no partial fills, zero delay, and a
quote feed of --feed-rate quotes a second spread evenly over the instruments. The
intents are a backlog stored while the feed ran, so every second pass comes back
at once with its slice (the record in force and SLICE_AHEAD_RECORDS after it).

Timed: pass 1 (validate, find the instant, AwaitingMarket), pass 2 (its slice,
priced), and the synthetic pass of the same intents, each the best of --repeats
runs in microseconds of process CPU per intent. The slices are built once, untimed
(the supervisor's work, not the worker's). Absolute figures drift on a shared
machine: compare runs of two trees side by side, or the ratios within one run.

    python bench/worker_passes.py [--intents 5000] [--repeats 5]
    python bench/worker_passes.py --profile 2       # cProfile of pass 2 instead
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quote_feed import FEED_SEED, instruments  # noqa: E402
from common.config import load_settings  # noqa: E402
from common.gc_policy import settle_after_start  # noqa: E402
from common.instruments import normalize  # noqa: E402
from common.market_records import QuoteRecord  # noqa: E402
from common.messages import AwaitingMarket, Execution, RawIntent  # noqa: E402
from supervisor.market_waits import MarketWaits  # noqa: E402
from tools import sample_intents as si  # noqa: E402
from tools.loadgen.feed import QuoteMaker  # noqa: E402
from worker.events import iso_ms  # noqa: E402
from worker.process import IntentProcessor  # noqa: E402

# Monday 2026-01-12 12:00 UTC: a fixed instant, so the figures do not depend on when the bench runs.
T0 = 1_768_219_200_000
SERVICE = {"SIMULATION_MARKET_SESSIONS": "off", "SIMULATION_LIQUIDITY_SHARE": "0",
           "SIMULATION_PARTIAL_FILL_CHANCE": "0", "SIMULATION_SEED": "bench-market-bus",
           "SIMULATION_MIN_DELAY_MS": "0", "SIMULATION_MAX_DELAY_MS": "0"}


def quotes(names: tuple[str, ...], rate: float, seconds: float) -> list[tuple[str, QuoteRecord]]:
    """The feed's quotes in stored order, as bench/market_bus.py's feed makes them (QuoteMaker)."""
    maker, step_ms = QuoteMaker(FEED_SEED, si.book()), 1000 / rate
    out = []
    for k in range(int(rate * seconds)):
        name = names[k % len(names)]
        q = maker.quote(name, T0 + int(k * step_ms))
        out.append((name, QuoteRecord(T0 + int(k * step_ms), q["bid"], q["ask"], q["bid_size"], q["ask_size"])))
    return out


def intents(count: int, names: tuple[str, ...], first_ms: int, last_ms: int) -> list[RawIntent]:
    raws = []
    for i in range(count):
        at = first_ms + (last_ms - first_ms) * i // count
        name = names[i % len(names)]
        body = si.intent(f"wp-{i}", side="buy" if i % 2 else "sell", instrument=name,
                         quantity=si.in_lots(name, 1 + i % 5), timestamp=iso_ms(at))
        raws.append(RawIntent(i + 1, si.encode(body), None, at))
    return raws


def best_us(run: Callable[[], object], count: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def passes(args: argparse.Namespace) -> tuple[list[Callable[[], None]], int, float]:
    """The three runs (pass 1, pass 2, one synthetic pass), how many intents each, and the slices'
    mean record count; the slices are the bookkeeping's, built here once."""
    names = instruments(args.instruments)
    bus = load_settings({**SERVICE, "MARKET_DATA": "bus"})
    synthetic = load_settings({**SERVICE, "MARKET_DATA": "synthetic"})
    feed = quotes(names, args.feed_rate, 20)
    waits = MarketWaits(bus.market_data_max_age_ms)
    for seq, (name, record) in enumerate(feed, start=1):
        waits.record(normalize(name), record, seq)
    waits.advance(feed[-1][1].at_ms + 1)
    raws = intents(args.intents, names, T0 + 5_000, T0 + 15_000)  # all inside the feed, none near its end

    processor, plain = IntentProcessor(bus, bus.seed), IntentProcessor(synthetic, synthetic.seed)
    firsts = [processor.process(raw) for raw in raws]
    assert all(isinstance(o, AwaitingMarket) for o in firsts)
    seconds = [ready for o in firsts for ready in waits.wait(o)]
    assert len(seconds) == len(raws) and all(isinstance(processor.process(r), Execution) for r in seconds[:50])
    records = sum(int.from_bytes(r.market[12:16], "little") for r in seconds) / len(seconds)

    def pass1() -> None:
        for raw in raws:
            processor.process(raw)

    def pass2() -> None:
        for raw in seconds:
            processor.process(raw)

    def one_pass() -> None:
        for raw in raws:
            plain.process(raw)

    return [pass1, pass2, one_pass], len(raws), records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=5000)
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--feed-rate", type=float, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", type=int, choices=(1, 2), help="profile this pass instead of timing")
    parser.add_argument("--sort", default="tottime", help="the profile's order (cumulative, say)")
    args = parser.parse_args()
    runs, count, records = passes(args)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(runs[args.profile - 1])
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(40)
        return 0
    settle_after_start()  # the collector as a worker runs it (worker.process.worker_main)
    for _ in range(2):  # warm: caches of the synthetic market's paths, the validator's
        for run in runs:
            run()
    p1, p2, syn = (best_us(run, count, args.repeats) for run in runs)
    print(f"{count:,} intents over {args.instruments} instruments, slices of {records:.1f} records on average")
    print(f"pass 1 {p1:6.1f} us  pass 2 {p2:6.1f} us  bus total {p1 + p2:6.1f} us  synthetic {syn:6.1f} us  "
          f"(bus / synthetic {(p1 + p2) / syn:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
