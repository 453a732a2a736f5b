"""worker.market's paths and crossing search: blocks are exact bridges of a Brownian motion in
trading time (checked statistically across block edges), the same however they are built, and
first_crossing answers what a step-by-step scan of quote() answers."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from common.instruments import load_instruments
from worker.brownian_path import BrownianPath
from worker.market import BLOCK, Market
from worker.portable_math import cos_sin_turn as _cos_sin_turn
from worker.portable_math import log_unit as _log_unit

BOOK = load_instruments()
REF = BOOK.reference_ms
DAY_MS = 86_400_000
P_MIN = 0.001  # fixed seeds: the verdict of a distribution test never flips
INSTRUMENTS = ("EURUSD", "USDJPY", "AAPL", "BTC/USD", "ES_F", "GC_F", "ZZTOP")


def brute_force(market: Market, instrument: str, start_ms: int, end_ms: int, level: float, above: bool,
                intervals: list[tuple[int, int]] | None = None, side: str = "mid") -> int | None:
    """The definition: the first instant, step by step, whose quote crosses."""
    for opens, closes in sorted(intervals) if intervals is not None else [(start_ms, end_ms)]:
        t, hi = max(opens, start_ms), min(closes, end_ms)
        while t < hi:
            mid = getattr(market.quote(instrument, t), side)
            if (mid >= level) if above else (mid <= level):
                return t
            t = REF + ((t - REF) // 1000 + 1) * 1000  # the next step's start
    return None


def step_ms(step: int, offset: int = 0) -> int:
    return REF + step * 1000 + offset


def clock_time(path: BrownianPath, n0: int, n1: int) -> float:
    """The trading time between steps n0 and n1 on the path's clock (the variance of B's increment)."""
    return path.clock.at_ms(step_ms(n1)) - path.clock.at_ms(step_ms(n0))


# -- the path ------------------------------------------------------------------------------


def test_box_muller_functions_are_accurate():
    rng = np.random.default_rng(4)
    x = np.concatenate([1.0 - rng.random(100_000), 2.0 ** -np.arange(0, 53), [math.sqrt(0.5), 0.75, 1 - 2.0**-52]])
    ln = _log_unit(x)  # x in (0, 1]
    want = np.array([math.log(v) for v in x.tolist()])
    assert np.all(np.abs(ln - want) <= 4 * np.spacing(np.abs(want)) + 1e-300)
    turns = np.concatenate([rng.random(100_000), np.arange(16) / 16])
    cos, sin = _cos_sin_turn(turns)
    assert np.max(np.abs(cos - np.cos(2 * np.pi * turns))) < 2e-15
    assert np.max(np.abs(sin - np.sin(2 * np.pi * turns))) < 2e-15
    assert np.max(np.abs(cos * cos + sin * sin - 1.0)) < 1e-15


def test_path_bits_do_not_depend_on_numpy_simd_kernels():
    """Another worker or instance on a CPU without AVX-512 computes the same bits."""
    code = ("import hashlib; from common.instruments import load_instruments; from worker.market import Market;"
            "p = Market(b's', load_instruments()).path('AAPL');"
            "w, v, d = p.own.build(list(range(-20, 20)), draws=True); f = p.factor.build([-3, 5], draws=False)[0];"
            "print(hashlib.sha256(w.tobytes() + v.tobytes() + d.tobytes() + f.tobytes()).hexdigest())")
    digests = set()
    for disabled in ("", "X86_V4 AVX512_ICL AVX512_SKX AVX512F"):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            pytest.skip(f"numpy refused NPY_DISABLE_CPU_FEATURES={disabled!r}: {done.stderr[-200:]}")
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_blocks_built_together_equal_blocks_built_alone():
    path = Market(b"s", BOOK).path("AAPL").own
    for js in ([-3, -2, -1, 0, 1, 2], list(range(5000, 5040)), [-(10**8), 7, 10**8]):
        together, variances, draws = path.build(js, draws=True)
        alone = [path.build([j], draws=True) for j in js]
        assert np.array_equal(together, np.concatenate([w for w, _, _ in alone]))
        assert np.array_equal(variances, np.concatenate([v for _, v, _ in alone]))
        assert np.array_equal(draws, np.concatenate([d for _, _, d in alone]))
        # The first BLOCK words are the same whether or not the volume draws are asked for.
        assert np.array_equal(path.build(js, draws=False)[0], together)


def test_block_edges_are_the_hashed_nodes():
    """B at a block edge is the midpoint construction's node, and each block ends where the next begins."""
    fresh = Market(b"s", BOOK).path("EURUSD").own
    path = Market(b"s", BOOK).path("EURUSD").own
    for j in (-5, -1, 0, 1, 2, 12_345, -987_654):
        w, variances, _ = path.block(j)
        assert w.item(0) == fresh.node(j * BLOCK)
        assert path.at((j + 1) * BLOCK) == fresh.node((j + 1) * BLOCK)
        last_step = math.sqrt(variances.item(BLOCK - 1))
        assert abs(w.item(BLOCK - 1) - path.at((j + 1) * BLOCK)) <= 6 * last_step  # one step
    assert path.at(0) == 0.0


def test_steps_are_independent_unit_normals_across_block_edges():
    """Steps just before, at and after a block edge, over the square root of their clock time, are
    N(0, 1) and uncorrelated."""
    rng = random.Random(11)
    path = Market(b"law", BOOK).path("BTC/USD").own
    samples = 1500
    steps = {k: [] for k in (-2, -1, 0, 1)}  # step k: B(a + k + 1) - B(a + k), a a block edge
    for _ in range(samples):
        a = rng.randrange(-(10**7), 10**7) * BLOCK
        w = [path.at(a + k) for k in range(-2, 3)]
        for k in steps:
            steps[k].append((w[k + 3] - w[k + 2]) / math.sqrt(clock_time(path, a + k, a + k + 1)))
    for k, xs in steps.items():
        assert stats.kstest(xs, "norm").pvalue > P_MIN, k
    for k in (-2, -1, 0):
        r, p = stats.pearsonr(steps[k], steps[k + 1])
        assert p > P_MIN, (k, r)


@pytest.mark.parametrize("span", [1, 7, 513, BLOCK, 1500, 5 * BLOCK + 3])
def test_increments_have_the_variance_of_their_span(span):
    """B(n + m) - B(n) ~ N(0, tau(n + m) - tau(n)) for n anywhere (open, closed, within the calendar's
    range and beyond it), m within or across block edges."""
    rng = random.Random(span)
    path = Market(b"law", BOOK).path("AAPL").own
    xs = []
    for k in range(1200):
        far = 10**10 if k % 2 else 4 * 10**8  # centuries away, or within the calendar's years
        n = rng.randrange(-far, far)
        xs.append((path.at(n + span) - path.at(n)) / math.sqrt(clock_time(path, n, n + span)))
    assert stats.kstest(xs, "norm").pvalue > P_MIN
    assert np.var(xs) == pytest.approx(1.0, abs=0.15)


def test_every_step_of_a_block_is_pure_and_seeded():
    a, b, other = Market(b"s", BOOK), Market(b"s", BOOK), Market(b"t", BOOK)
    times = [step_ms(7 * BLOCK - 3 + k, 1) for k in range(BLOCK + 6)]  # across two block edges
    first = [a.quote("EURUSD", t) for t in times]
    a._quotes.clear()
    assert [a.quote("EURUSD", t) for t in times] == first == [b.quote("EURUSD", t) for t in times]
    assert sum(q != r for q, r in zip(first, (other.quote("EURUSD", t) for t in times))) > 0.95 * len(times)


def test_quotes_survive_cache_eviction():
    """A Market whose block cache holds two blocks quotes what an untouched one quotes."""
    small = Market(b"s", BOOK)
    small._blocks.limit = 2
    rng = random.Random(3)
    times = [REF + rng.randrange(-400 * DAY_MS, 400 * DAY_MS) for _ in range(300)]
    first = [small.quote("SPY", t) for t in times]
    small._quotes.clear()
    assert [small.quote("SPY", t) for t in reversed(times)] == first[::-1]
    assert [Market(b"s", BOOK).quote("SPY", t) for t in times] == first
    assert len(small._blocks) <= 2


# -- first_crossing ------------------------------------------------------------------------


def test_first_crossing_matches_a_step_by_step_scan():
    rng = random.Random(2024)
    scanner = Market(b"scan", BOOK)
    checker = Market(b"scan", BOOK)  # its own caches: blocks built one by one, by quote()
    found = none = 0
    for case in range(160):
        instrument = rng.choice(INSTRUMENTS)
        step = rng.randrange(-400 * 86_400, 400 * 86_400)
        if case % 4 == 0:  # start just before a block edge, or half a block before one
            step = (step // BLOCK) * BLOCK - rng.randrange(1, 40) + (BLOCK // 2 if case % 8 == 0 else 0)
        start = step_ms(step, rng.randrange(1000))
        end = start + rng.choice((1, 999, 1000, 1001, 30_000, 700_000, 2_500_000))
        above = rng.random() < 0.5
        tick = BOOK.get(instrument).tick_size
        mid = checker.quote(instrument, start).mid
        level = mid + (1 if above else -1) * tick * rng.choice((0, 0.5, 1, 2, 5, 20, 1e6))
        want = brute_force(checker, instrument, start, end, level, above)
        got = scanner.first_crossing(instrument, start, end, level, above)
        assert got == want, (case, instrument, start, end, level, above)
        # Asked again (the per-block ranges now known): the same.
        assert scanner.first_crossing(instrument, start, end, level, above) == want
        found += want is not None
        none += want is None
    assert found > 40 and none > 40


# SOL/USD quotes a spread of dozens of ticks: the ask and the bid are far from the mid.
SIDE_INSTRUMENTS = ("EURUSD", "AAPL", "BTC/USD", "ES_F", "SOL/USD", "ZZTOP")


@pytest.mark.parametrize("side", ["bid", "ask"])
def test_first_crossing_of_the_bid_or_the_ask_matches_a_step_by_step_scan(side):
    """A resting order waits on the touch (a buy limit for the ask, a sell limit for the bid): the
    search answers what a step-by-step scan of the quote's bid or ask answers, levels between the
    mid and the touch included."""
    rng = random.Random(f"touch-{side}")
    scanner = Market(b"touch", BOOK)
    checker = Market(b"touch", BOOK)
    found = none = between = 0
    for case in range(120):
        instrument = rng.choice(SIDE_INSTRUMENTS)
        start = step_ms(rng.randrange(-400 * 86_400, 400 * 86_400), rng.randrange(1000))
        end = start + rng.choice((1, 1000, 30_000, 700_000))
        above = rng.random() < 0.5
        q = checker.quote(instrument, start)
        tick = BOOK.get(instrument).tick_size
        base = rng.choice((q.mid, q.bid, q.ask, getattr(q, side)))
        level = base + (1 if above else -1) * tick * rng.choice((0, 0.5, 1, 2, 5, 20, 1e6))
        between += min(q.bid, q.ask) < level < max(q.bid, q.ask)
        want = brute_force(checker, instrument, start, end, level, above, side=side)
        assert scanner.first_crossing(instrument, start, end, level, above, side=side) == want, (
            case, instrument, start, end, level, above)
        assert scanner.first_crossing(instrument, start, end, level, above, side=side) == want
        found += want is not None
        none += want is None
    assert found > 30 and none > 30 and between > 5


def test_the_bid_and_the_ask_cross_a_level_between_them_at_different_instants():
    """A level between the bid and the mid: the bid reaches it (from below) later than the mid."""
    m = Market(b"touch", BOOK)
    start = step_ms(77_777)
    q = m.quote("SOL/USD", start)
    level = round((q.bid + q.mid) / 2, 3)
    at_mid = m.first_crossing("SOL/USD", start, start + DAY_MS, level, True)
    at_bid = m.first_crossing("SOL/USD", start, start + DAY_MS, level, True, side="bid")
    assert at_mid == start and at_bid is not None and at_bid > start
    assert at_bid == brute_force(m, "SOL/USD", start, start + DAY_MS, level, True, side="bid")


def test_crossing_at_the_first_step_is_the_arrival_instant():
    m = Market(b"s", BOOK)
    start = step_ms(1_000, 637)  # mid-step: that step counts from the arrival on
    mid = m.quote("AAPL", start).mid
    assert m.first_crossing("AAPL", start, start + 60_000, mid, True) == start
    assert m.first_crossing("AAPL", start, start + 60_000, mid, False) == start
    assert m.first_crossing("AAPL", start, start + 1, mid, True) == start
    assert m.first_crossing("AAPL", start, start, mid, True) is None  # an empty horizon


@pytest.mark.parametrize("edge_offset", [0, -1, BLOCK // 2, BLOCK // 2 - 1])
def test_crossing_exactly_at_a_block_edge(edge_offset):
    """A crossing at a block's first or last step, or half a block in."""
    m = Market(b"edge", BOOK)
    instrument = "BTC/USD"
    for j in range(1, 400):
        target = j * BLOCK + edge_offset
        mids = [m.quote(instrument, step_ms(target - k)).mid for k in range(0, 30)]
        if mids[0] > max(mids[1:]):
            break
    else:
        pytest.fail("no block edge with a fresh high in 400 blocks")
    start = step_ms(target - 29, 250)
    fresh = Market(b"edge", BOOK)
    assert fresh.first_crossing(instrument, start, start + DAY_MS, mids[0], True) == step_ms(target)
    # The horizon ends exactly at the crossing step's start: not reached; one ms later: reached.
    assert fresh.first_crossing(instrument, start, step_ms(target), mids[0], True) is None
    assert fresh.first_crossing(instrument, start, step_ms(target) + 1, mids[0], True) == step_ms(target)


def test_no_crossing_within_the_horizon():
    m = Market(b"s", BOOK)
    start = step_ms(50_000, 10)
    end = start + 3 * 3600_000
    high = max(m.quote("ES_F", t).mid for t in range(start, end, 1000))
    low = min(m.quote("ES_F", t).mid for t in range(start, end, 1000))
    tick = BOOK.get("ES_F").tick_size
    assert m.first_crossing("ES_F", start, end, high + tick / 2, True) is None
    assert m.first_crossing("ES_F", start, end, low - tick / 2, False) is None
    assert m.first_crossing("ES_F", start, end, high, True) == brute_force(m, "ES_F", start, end, high, True)
    assert m.first_crossing("ES_F", start, end, low, False) == brute_force(m, "ES_F", start, end, low, False)


def test_closed_intervals_are_skipped():
    rng = random.Random(5)
    m = Market(b"sessions", BOOK)
    checked = skipped = 0
    for case in range(60):
        instrument = rng.choice(INSTRUMENTS)
        start = step_ms(rng.randrange(-10**6, 10**6), rng.randrange(1000))
        end = start + 4 * 3600_000
        level = m.quote(instrument, start).mid * (1 + rng.choice((-1, 1)) * rng.choice((1e-4, 5e-4, 2e-3)))
        above = level > m.quote(instrument, start).mid
        always = m.first_crossing(instrument, start, end, level, above)
        # Sessions with gaps, boundaries at arbitrary milliseconds (mid-step), unsorted, some
        # outside [start, end); the first crossing with no sessions falls in a gap when there is one.
        intervals, t = [], start - 600_000
        while t < end + 600_000:
            length, gap = rng.randrange(1, 900_000), rng.randrange(1, 900_000)
            if always is not None and t <= always < t + length:
                length = max(always - t, 0)  # close just before it
            if length:
                intervals.append((t, t + length))
            t += length + gap
        rng.shuffle(intervals)
        want = brute_force(m, instrument, start, end, level, above, intervals)
        assert m.first_crossing(instrument, start, end, level, above, intervals) == want, case
        if want is not None:
            assert any(o <= want < c for o, c in intervals) and start <= want < end
        checked += 1
        skipped += always is not None and want != always
    assert skipped > 10
    # No intervals: never open.
    assert m.first_crossing("AAPL", step_ms(0), step_ms(100), 0.0, False, []) is None


def test_scanning_leaves_the_quote_cache_alone():
    m = Market(b"s", BOOK)
    m.quote("AAPL", step_ms(0))
    live = dict(m._blocks)
    start = step_ms(10 * 86_400)
    assert m.first_crossing("AAPL", start, start + 7 * DAY_MS, 1e12, True) is None
    assert dict(m._blocks).keys() == live.keys()
    # A repeated scan reads the remembered block ranges, and a later quote is what a fresh Market says.
    assert m.first_crossing("AAPL", start, start + 7 * DAY_MS, 1e12, True) is None
    assert m.quote("AAPL", start + 12_345_000) == Market(b"s", BOOK).quote("AAPL", start + 12_345_000)


@pytest.mark.parametrize("instrument", ["EURUSD", "AAPL", "ES_F", "USDJPY"])
def test_levels_a_float_ulp_off_a_quoted_mid(instrument):
    """A level computed with float noise (one ulp beside a mid the path quotes) is decided exactly."""
    rng = random.Random(instrument)
    m = Market(b"ulp", BOOK)
    for _ in range(6):
        start = step_ms(rng.randrange(-10**6, 10**6), rng.randrange(1000))
        end = start + 2 * 3600_000
        mids = [m.quote(instrument, t).mid for t in range(start + 60_000, start + 600_000, 60_000)]
        for mid in mids[:3]:
            for level in (mid, math.nextafter(mid, math.inf), math.nextafter(mid, -math.inf)):
                for above in (True, False):
                    want = brute_force(m, instrument, start, end, level, above)
                    assert Market(b"ulp", BOOK).first_crossing(instrument, start, end, level, above) == want
