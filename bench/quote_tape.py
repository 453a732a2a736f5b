"""worker.quote_tape costs: the quote in force and the first crossing over recorded quotes.

Runs in one process, no NATS. A random walk of --records quotes (one every 20 ms on average,
ticks of 0.01) stands in for one instrument's recorded data; times are best of --repeat
passes on a shared machine, so compare them within one run:

    quote          the quote in force at a random instant (a binary search)
    crossing       first_crossing over the whole tape for a level never reached: the block
                   ranges skip every block; against a plain numpy scan of the same records
    crossing late  a level first reached near the end of the tape

    python bench/quote_tape.py [--records 2000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from worker.quote_tape import QuoteTape


def build(records: int) -> QuoteTape:
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.integers(0, 40, records)).astype(np.int64)
    bid = np.round(100.0 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], records)), 2)
    bid = np.maximum(bid, 0.01)
    sizes = rng.integers(1, 500, records).astype(np.float64)
    return QuoteTape(times, bid, bid + 0.01, sizes, sizes, np.zeros(records))


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tape = build(args.records)
    first, last = int(tape.times[0]), int(tape.times[-1]) + 1
    asks = tape.quote(last).ask
    never = float(np.max(tape.values("ask"))) + 1.0
    late = float(np.max(tape.values("ask")[-args.records // 50:]))
    rng = np.random.default_rng(1)
    instants = rng.integers(first, last, 10_000).tolist()
    quote_s = best(args.repeat, lambda: [tape.quote(t) for t in instants]) / len(instants)
    crossing_s = best(args.repeat, lambda: tape.first_crossing(first, last, never, True, "ask"))
    plain_s = best(args.repeat, lambda: np.flatnonzero(tape.values("ask") >= never))
    late_s = best(args.repeat, lambda: tape.first_crossing(first, last, late, True, "ask"))
    print(f"{args.records:,} records, last ask {asks}")
    print(f"quote in force        {quote_s * 1e6:8.2f} µs")
    print(f"crossing, never       {crossing_s * 1e3:8.3f} ms   (plain numpy scan {plain_s * 1e3:.3f} ms)")
    print(f"crossing, late        {late_s * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
