"""worker.market costs, as ratios within one run: warm and cold quotes against the previous
construction (every step a 38-level hashed bridge walk), and first_crossing scans.

Runs in one process, no NATS. The previous worker/market.py is read from git
(`git show REV:worker/market.py`, read only; --old-rev, default the commit before the
block construction) and loaded under another module name, so both run in the same
process on the same machine. Times are best of --repeat passes; the shared machine makes
absolute times drift, ratios much less.

    warm quote    a new step whose nodes/blocks are cached (the per-step quote cache
                  emptied before each pass): the hot path of an intent at a new second
    hit quote     the same step again (the per-step quote cache): unchanged code
    cold quote    a step in a region nothing has touched (new Market per pass)
    scan          first_crossing over N steps that never crosses (level above any mid),
                  first on a fresh Market, then repeated (per-block ranges remembered);
                  and one that crosses within a few steps

    python bench/market_scan.py [--old-rev 7dfb872] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import time
from pathlib import Path

from common.instruments import load_instruments
from worker.market import Market

ROOT = Path(__file__).resolve().parent.parent
BOOK = load_instruments()
INSTRUMENT = "AAPL"
DAY_MS = 86_400_000


def load_old(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:worker/market.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path("/tmp") / f"market_old_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("market_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["market_old"] = module
    spec.loader.exec_module(module)
    return module


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def warm_quote(market_cls, repeat: int, n: int = 5000) -> float:
    """Seconds per quote of a new step in a warm region."""
    m = market_cls(b"bench", BOOK)
    base = BOOK.reference_ms + 3 * DAY_MS + 123
    times = [base + 1000 * k for k in range(n)]
    for t in times:
        m.quote(INSTRUMENT, t)

    def run():
        m._quotes.clear()
        for t in times:
            m.quote(INSTRUMENT, t)
    return best(run, repeat) / n


def hit_quote(market_cls, repeat: int, n: int = 5000) -> float:
    m = market_cls(b"bench", BOOK)
    t = BOOK.reference_ms + 3 * DAY_MS + 123
    m.quote(INSTRUMENT, t)
    return best(lambda: [m.quote(INSTRUMENT, t) for _ in range(n)], repeat) / n


def cold_quote(market_cls, repeat: int, n: int = 200) -> float:
    """Seconds per quote at instants days apart, on a Market that has quoted nothing there."""
    rng = random.Random(7)
    totals = []
    for _ in range(repeat):
        m = market_cls(b"bench", BOOK)
        times = [BOOK.reference_ms + rng.randrange(-3650, 3650) * DAY_MS + rng.randrange(DAY_MS) for _ in range(n)]
        started = time.perf_counter()
        for t in times:
            m.quote(INSTRUMENT, t)
        totals.append((time.perf_counter() - started) / n)
    return min(totals)


def scan(steps: int, repeat: int) -> tuple[float, float]:
    """(fresh, repeated) seconds of a first_crossing over `steps` steps that never crosses."""
    start = BOOK.reference_ms + 5 * DAY_MS + 123
    end = start + steps * 1000
    level = 1e12  # above any mid

    def fresh():
        assert Market(b"bench", BOOK).first_crossing(INSTRUMENT, start, end, level, True) is None
    m = Market(b"bench", BOOK)
    m.first_crossing(INSTRUMENT, start, end, level, True)
    return best(fresh, repeat), best(lambda: m.first_crossing(INSTRUMENT, start, end, level, True), repeat)


def early_crossing(repeat: int) -> tuple[float, float]:
    """(fresh Market, Market that has just quoted the arrival step) seconds of a scan crossing early."""
    start = BOOK.reference_ms + 5 * DAY_MS + 123
    probe = Market(b"bench", BOOK)
    mids = [probe.quote(INSTRUMENT, start + 1000 * k).mid for k in range(10)]
    level = max(mids[1:])  # crossed within the first ten steps

    def fresh():
        assert Market(b"bench", BOOK).first_crossing(INSTRUMENT, start, start + 604_800_000, level, True) is not None

    def quoted():  # the simulator's case: the order's arrival was just quoted (its blocks are cached)
        m = Market(b"bench", BOOK)
        m.quote(INSTRUMENT, start)
        started = time.perf_counter()
        assert m.first_crossing(INSTRUMENT, start, start + 604_800_000, level, True) is not None
        return time.perf_counter() - started
    return best(fresh, repeat), min(quoted() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default="7dfb872")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    old = load_old(args.old_rev).Market
    rows = []
    for name, fn in (("warm quote (new step, cached blocks)", warm_quote), ("hit quote (same step)", hit_quote),
                     ("cold quote (untouched region)", cold_quote)):
        before, after = fn(old, args.repeat), fn(Market, args.repeat)
        rows.append((name, before, after))
    print(f"{'quote':40} {'old us':>9} {'new us':>9} {'old/new':>8}")
    for name, before, after in rows:
        print(f"{name:40} {before * 1e6:9.2f} {after * 1e6:9.2f} {before / after:8.2f}")
    warm_new = rows[0][2]
    print(f"\n{'first_crossing, never crossing':40} {'fresh ms':>9} {'repeat ms':>9} {'fresh/warm quote':>17}"
          f" {'old scalar scan / fresh':>24}")
    for steps in (23_400, 604_800):
        fresh, again = scan(steps, args.repeat)
        # What a step-by-step scan would cost with the old construction's warm quote.
        print(f"{f'{steps:,} steps':40} {fresh * 1e3:9.2f} {again * 1e3:9.3f} {fresh / warm_new:17.0f}"
              f" {steps * rows[0][1] / fresh:24.1f}")
    fresh, quoted = early_crossing(args.repeat)
    print(f"{'crossing within 10 steps (fresh Market)':40} {fresh * 1e3:9.3f} {'':>9} {fresh / warm_new:17.0f}")
    print(f"{'  ... after quoting the arrival step':40} {quoted * 1e3:9.3f} {'':>9} {quoted / warm_new:17.0f}")


if __name__ == "__main__":
    main()
