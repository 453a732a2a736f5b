"""worker.synthetic_market's price process, tested statistically: no predictable returns at any
lag from a second to a year, variance growing linearly with the horizon in trading time, most of
an equity's variance while its market trades, an intraday U-shape, fat tails and volatility
clustering, correlated instruments within an asset class, the reference price holding at the
reference time, and no trivial rule earning from the simulator.

Runs in the test process. Reads the market through its public face only (price_samples.py);
the estimators are in return_statistics.py. Seeds are fixed, so every verdict is too: each
comment states the band a correct process passes and why, and FAMILY_ALPHA is the chance that a
correct process fails a test that uses it. The model's numbers the tests hold the market to are
in the block below, the one place to adjust when a default moves.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from common.instruments import SHIPPED_FILE, parse_instruments
from tests.unit.worker import price_samples as ps
from tests.unit.worker import return_statistics as rs
from worker.market import STEP_MS
from worker.synthetic_market import SyntheticMarket

# -- the model the market is held to ---------------------------------------------------------

DAILY_VOL_TOLERANCE = 0.15  # a trading day's close-to-close volatility within 15 % of daily_volatility
WEEKEND_VARIANCE_RATIO = (0.75, 1.33)  # a return over a weekend or holiday vs one over a night
OVERNIGHT_SHARE = (0.1, 0.3)  # AAPL: close-to-open variance over close-to-close variance (model 0.2)
U_SHAPE_MIN_RATIO = 1.5  # first and last 30 minutes vs 11:30-14:00 ET, for |1-minute return| and volume
MIN_EXCESS_KURTOSIS = 0.5  # daily returns
MIN_ABS_RETURN_ACF = 0.04  # autocorrelation of |daily return| at lags 1-5
CORRELATED = {("ES_F", "SPY"): (0.8, 1.0), ("AAPL", "SPY"): (0.4, 0.9)}
UNCORRELATED = (("BTC/USD", "SPY"),)
VARIANCE_PER_DAY_BAND = 0.3  # var(h-day return) / (h daily_volatility^2), and / (h var(1-day)): 1 +- this
HORIZON_SEEDS = {5: 0, 20: 1, 60: 3, 250: 12}  # trading days -> seeds over 2001..2034 (0: the 20-year series)
YEARLY_SD_BAND = 0.15  # sd of a 365-day return / (daily_volatility sqrt(trading days in it)): 1 +- this
YEARLY_SEEDS = 12
REFERENCE_SEEDS = (ps.SEED, b"trading-events/exec-sim-consumer", b"unit-test-seed", b"a", b"b")

ANNUAL = {"AAPL": 252, "BTC/USD": 365}  # trading days a year
OVERNIGHT_YEARS = 10
CORRELATION_YEARS = 5

# -- autocorrelation -------------------------------------------------------------------------

BTC = "BTC/USD"
_WEEKDAY = ps.epoch_ms("2025-03-03")
_SERIES = {
    # name: (returns, lags tested)
    "BTC/USD 1 s": (lambda: ps.grid_returns(BTC, _WEEKDAY, 1000, 20_000), [*range(1, 61), 300, 1024, 3600]),
    "BTC/USD 1 min": (lambda: ps.grid_returns(BTC, _WEEKDAY, ps.MINUTE_MS, 14 * 1440),
                      [*range(1, 61), 120, 240, 720, 1440, 10_080]),
    "BTC/USD 1 h": (lambda: ps.grid_returns(BTC, _WEEKDAY - 16 * 7 * ps.DAY_MS, ps.HOUR_MS, 16 * 7 * 24),
                    [*range(1, 49), 168, 480, 720]),
    "BTC/USD 1 day": (lambda: ps.daily_returns(BTC), [*range(1, 61), 90, 180, 365]),
    "AAPL 1 trading day": (lambda: ps.daily_returns("AAPL"), [*range(1, 61), 126, 252]),
}


@pytest.mark.parametrize("series", list(_SERIES))
def test_returns_are_uncorrelated_at_every_lag(series):
    # Band: |robust z| below the Bonferroni threshold over the lags tested (family-wise FAMILY_ALPHA);
    # the robust standard error keeps the band honest under volatility clustering.
    make, lags = _SERIES[series]
    found = rs.autocorrelations(make(), lags)
    limit = rs.bonferroni_z(len(lags))
    bad = [a for a in found if abs(a.z) >= limit]
    assert not bad, f"{series}: |z| >= {limit:.2f} at {bad[:5]}"


@pytest.mark.parametrize("series,lag", [("BTC/USD 1 day", 20), ("BTC/USD 1 h", 480), ("AAPL 1 trading day", 20),
                                        ("AAPL 1 trading day", 14)])
def test_no_echo_twenty_days_later(series, lag):
    # Twenty days (for AAPL also 14 trading days, about 20 calendar days), alone: |robust z| < 3.29
    # (two-sided FAMILY_ALPHA), and the autocorrelation itself under 0.1.
    found = rs.autocorrelations(_SERIES[series][0](), [lag])[0]
    assert abs(found.z) < rs.bonferroni_z(1) and abs(found.value) < 0.1, found


# -- variance per horizon, in trading time ---------------------------------------------------


@pytest.mark.parametrize("instrument", ["AAPL", BTC])
@pytest.mark.parametrize("days", list(HORIZON_SEEDS))
def test_variance_grows_linearly_with_the_horizon(instrument, days):
    # Non-overlapping h-day returns: 5-day ones from the twenty-year series, longer ones over
    # 2001..2034 pooled over seeds; 400-1,500 of them, so the variance's standard error is about
    # 0.07-0.1 (volatility clustering included); +-0.3 is 3-4 of it.
    sigma = ps.BOOK.get(instrument).daily_volatility
    daily = ps.daily_returns(instrument)
    seeds = HORIZON_SEEDS[days]
    windows = ps.horizon_returns(instrument, days, seeds) if seeds else ps.summed_returns(daily, days)
    per_day = float(np.var(windows, ddof=1)) / days
    one_day = float(np.var(daily, ddof=1))
    assert abs(per_day / sigma**2 - 1) <= VARIANCE_PER_DAY_BAND, (per_day / sigma**2, "per daily_volatility^2")
    assert abs(per_day / one_day - 1) <= VARIANCE_PER_DAY_BAND, (per_day / one_day, "variance ratio")


@pytest.mark.parametrize("instrument", ["AAPL", BTC])
def test_a_years_return_has_the_random_walks_spread(instrument):
    # 33 yearly returns a seed, 12 seeds: the sd's standard error is about 0.04; +-0.15 is 4 of it.
    sigma = ps.BOOK.get(instrument).daily_volatility
    returns, days = ps.yearly_returns(instrument, YEARLY_SEEDS)
    ratio = float(np.std(returns / (sigma * np.sqrt(days)), ddof=1))
    expected = sigma * np.sqrt(days.mean())
    assert abs(ratio - 1) <= YEARLY_SD_BAND, (
        f"{instrument}: 365-day sd {np.std(returns, ddof=1):.1%} against {expected:.1%} ({ratio:.2f}x)")


# -- trading time: the overnight share, weekends, the intraday shape -------------------------


def test_most_of_an_equitys_variance_falls_while_its_market_trades():
    # Ten years of sessions: the share's standard error is about 0.02; the band is the model's
    # 0.2 +- 0.1.
    closes, opens = ps.nyse_closes("AAPL", OVERNIGHT_YEARS), ps.nyse_opens("AAPL", OVERNIGHT_YEARS)
    overnight = opens[1:] - closes[:-1]
    share = float((overnight**2).sum() / (np.diff(closes) ** 2).sum())
    assert OVERNIGHT_SHARE[0] <= share <= OVERNIGHT_SHARE[1], share


def test_a_trading_days_volatility_is_daily_volatility():
    # Twenty years (5,000 days): the realised volatility's standard error is about 3 %, clustering
    # included; 15 % is 5 of it.
    sigma = ps.BOOK.get("AAPL").daily_volatility
    realised = float(np.std(ps.daily_returns("AAPL"), ddof=1))
    assert abs(realised / sigma - 1) <= DAILY_VOL_TOLERANCE, (
        f"AAPL: {realised * np.sqrt(252):.1%} a year against {sigma * np.sqrt(252):.1%}")


def test_a_weekend_adds_no_more_variance_than_a_night():
    # About 1,100 returns over a weekend or holiday against 3,900 over one night: the ratio of
    # variances has a standard error of about 0.07; the band is 4 of it either side (on a log scale).
    ends = np.array(ps.trading_day_ends(ps.NYSE, *ps.TWENTY_YEARS))
    returns = ps.daily_returns("AAPL")
    after_break = np.diff(ends) > 1.5 * ps.DAY_MS
    ratio = float(np.var(returns[after_break]) / np.var(returns[~after_break]))
    assert WEEKEND_VARIANCE_RATIO[0] <= ratio <= WEEKEND_VARIANCE_RATIO[1], ratio


def _full_sessions(count: int) -> list[tuple[int, int]]:
    found = [s for s in ps.sessions(ps.NYSE, ps.epoch_ms("2024-03-01"), ps.epoch_ms("2024-07-01"))
             if s[1] - s[0] == 390 * ps.MINUTE_MS]
    return found[:count]


def _minute_windows(values: np.ndarray) -> tuple[float, float, float]:
    """Means over sessions x minutes: the first 30 minutes, 11:30-14:00 ET, the last 30."""
    return float(values[:, :30].mean()), float(values[:, 120:270].mean()), float(values[:, 360:390].mean())


def test_volatility_is_u_shaped_through_the_session():
    # 30 sessions x 30 minutes per window: the mean |1-minute return| has a standard error of about
    # 4 % of itself. The model's 2x the session's average variance at the open and close and 0.5x at
    # midday give about 1.8 over these windows (the square root of their variance ratio), 2x and
    # 0.5x of volatility about 3.3; the bound is 1.5.
    moves = []
    for opens, closes in _full_sessions(30):
        instants = [*range(opens, closes, ps.MINUTE_MS), closes - STEP_MS]
        moves.append(np.abs(np.diff(ps.log_mids("AAPL", instants))))
    first, midday, last = _minute_windows(np.array(moves))
    assert first >= U_SHAPE_MIN_RATIO * midday and last >= U_SHAPE_MIN_RATIO * midday, (first, midday, last)


def test_volume_is_u_shaped_through_the_session():
    # The step volume at each minute of 30 sessions, same windows and bound: volume follows the
    # variance's profile, about 3 over these windows.
    volume = np.array([ps.volumes("AAPL", range(opens, closes, ps.MINUTE_MS)) for opens, closes in _full_sessions(30)])
    first, midday, last = _minute_windows(volume)
    assert first >= U_SHAPE_MIN_RATIO * midday and last >= U_SHAPE_MIN_RATIO * midday, (first, midday, last)


# -- fat tails, clustering, correlation ------------------------------------------------------


@pytest.mark.parametrize("instrument", ["AAPL", BTC])
def test_daily_returns_have_fat_tails(instrument):
    # Gaussian returns give 0 +- 0.07 over 5,000-7,300 days; the model's stochastic volatility
    # about 3 (exp(vol_of_vol^2) - 1) (1.3 at 0.6). Bound 0.5.
    kurtosis = rs.excess_kurtosis(ps.daily_returns(instrument))
    assert kurtosis > MIN_EXCESS_KURTOSIS, kurtosis


@pytest.mark.parametrize("instrument", ["AAPL", BTC])
def test_volatility_clusters(instrument):
    # Without clustering the autocorrelation of |r| is 0 +- 0.014 (1/sqrt(5,000)); the model's
    # persistent volatility gives about 0.1 at lags 1-5. Bound 0.04 at each lag.
    moves = np.abs(ps.daily_returns(instrument))
    found = [rs.plain_autocorrelation(moves, lag) for lag in range(1, 6)]
    assert min(found) > MIN_ABS_RETURN_ACF, found


@pytest.mark.parametrize("pair", list(CORRELATED), ids="~".join)
def test_instruments_of_one_asset_class_move_together(pair):
    # Five years of NYSE days (1,250): a correlation's standard error is under 0.03.
    low, high = CORRELATED[pair]
    value, _ = rs.robust_correlation(*(np.diff(ps.nyse_closes(name, CORRELATION_YEARS)) for name in pair))
    assert low < value <= high, (pair, value)


@pytest.mark.parametrize("pair", UNCORRELATED, ids="~".join)
def test_instruments_of_different_asset_classes_do_not(pair):
    # |robust z| below 3.29 (two-sided FAMILY_ALPHA).
    value, z = rs.robust_correlation(*(np.diff(ps.nyse_closes(name, CORRELATION_YEARS)) for name in pair))
    assert abs(z) < rs.bonferroni_z(1), (pair, value, z)


# -- the reference price ---------------------------------------------------------------------


def _off_reference(book, view: SyntheticMarket, symbols) -> list[tuple[str, float, float]]:
    """The instruments whose mid at reference time is more than half a tick from reference_price
    (the quoted mid sits on the half-tick grid: half a tick is as close as it can be)."""
    missed = []
    for symbol in symbols:
        info = book.get(symbol)
        mid = view.quote(symbol, book.reference_ms).mid
        if abs(mid - info.reference_price) > info.tick_size / 2 + 1e-9 * info.reference_price:
            missed.append((symbol, mid, info.reference_price))
    return missed


@pytest.mark.parametrize("seed", REFERENCE_SEEDS)
def test_the_reference_price_holds_at_the_reference_time(seed):
    view = SyntheticMarket(seed, ps.BOOK, sessions_on=True)
    assert not _off_reference(ps.BOOK, view, list(ps.BOOK.listed)), seed


def test_a_moved_reference_time_and_price_hold_too():
    data = tomllib.loads(SHIPPED_FILE.read_text(encoding="utf-8"))
    data["reference_time"] = "2031-07-15T14:45:00Z"  # a Tuesday, NYSE open
    book = parse_instruments(data).with_prices({"AAPL": 199.99, "ES_F": 7_000.25})
    view = SyntheticMarket(ps.SEED, book, sessions_on=True)
    assert not _off_reference(book, view, ["AAPL", "ES_F", "EURUSD", BTC, "SPY"])


# -- no rule earns from the simulator --------------------------------------------------------

LOOKBACK_DAYS = (1, 2, 3, 5, 10, 20, 40, 60)
LOOKBACK_MINUTES = (1, 5, 15, 60, 240, 1440)
ECHO_LAGS = range(1, 61)


def _assert_no_rule_earns(results: list[rs.RuleResult], label: str) -> None:
    # Momentum and reversal have the same |t|: one test per rule. Band: |t| below the Bonferroni
    # threshold over the rules tested at family-wise FAMILY_ALPHA: 4.35 for the 74 rules on days
    # (8 lookbacks held 1 period, 7 held for their lookback, 59 echo lags), 4.34 for 70 on minutes.
    limit = rs.bonferroni_z(len(results))
    best = sorted(results, key=lambda r: -abs(r.t))[:3]
    assert abs(best[0].t) < limit, f"{label}: |t| >= {limit:.2f}: {best}"


@pytest.mark.parametrize("instrument", ["AAPL", BTC])
def test_no_rule_earns_over_twenty_years_of_days(instrument):
    returns = ps.daily_returns(instrument)
    _assert_no_rule_earns(rs.rule_family(returns, LOOKBACK_DAYS, ECHO_LAGS, ANNUAL[instrument]), instrument)


def test_no_rule_earns_over_two_weeks_of_minutes():
    returns = _SERIES["BTC/USD 1 min"][0]()
    _assert_no_rule_earns(rs.rule_family(returns, LOOKBACK_MINUTES, ECHO_LAGS, 365 * 1440), "BTC/USD minutes")


# -- the estimators themselves, on series whose answer is known ------------------------------


def _clustered_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Returns with log-normal AR(1) volatility (half-life 20 days, vol of vol 0.6): unpredictable."""
    phi, spread = 0.5 ** (1 / 20), 0.6
    x = np.empty(n)
    x[0] = spread * rng.standard_normal()
    for i in range(1, n):
        x[i] = phi * x[i - 1] + np.sqrt(1 - phi**2) * spread * rng.standard_normal()
    return np.exp((x - spread**2 / 2) / 2) * rng.standard_normal(n)


def test_the_estimators_pass_clustered_noise_and_catch_an_echo():
    rng = np.random.default_rng(17)
    noise = _clustered_noise(rng, 7_300)
    lags = range(1, 61)
    assert abs(rs.worst(rs.autocorrelations(noise, lags)).z) < rs.bonferroni_z(len(lags))
    assert rs.excess_kurtosis(noise) > MIN_EXCESS_KURTOSIS
    assert min(rs.plain_autocorrelation(np.abs(noise), lag) for lag in range(1, 6)) > MIN_ABS_RETURN_ACF
    rules = rs.rule_family(noise, LOOKBACK_DAYS, ECHO_LAGS, 365)
    assert max(abs(r.t) for r in rules) < rs.bonferroni_z(len(rules))
    gaussian = rng.standard_normal(7_300)
    assert rs.excess_kurtosis(gaussian) < MIN_EXCESS_KURTOSIS
    assert max(rs.plain_autocorrelation(np.abs(gaussian), lag) for lag in range(1, 6)) < MIN_ABS_RETURN_ACF
    # The audit's echo: each return comes back at -0.5 times itself 20 periods later.
    echo = noise[20:] - 0.5 * noise[:-20]
    assert rs.autocorrelations(echo, [20])[0].z < -rs.bonferroni_z(len(lags))
    rules = rs.rule_family(echo, LOOKBACK_DAYS, ECHO_LAGS, 365)
    assert max(abs(r.t) for r in rules) > rs.bonferroni_z(len(rules))
