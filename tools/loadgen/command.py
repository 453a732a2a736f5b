"""`at-exec-sim loadgen` options and the run from the command line.

Runs in the loadgen process. NATS URL, subjects and NATS authentication are the
service's own settings (the same environment), so the tool talks to the service
it sits next to, logged in as the service is. Exit status: 0 when the run
passed its thresholds (by default: every awaited valid intent answered, no
invalid one filled), 1 when it did not (the failing ones printed), 2 for bad
options (or --report without matplotlib), 3 when NATS or the stream cannot be
reached.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path

from rich.console import Console

from common.config import Settings
from tools import arguments
from tools import sample_intents as si
from tools.console import tool_console
from tools.loadgen.feed import FeedOptions
from tools.loadgen.metrics import metrics_help
from tools.loadgen.mix import DEFAULT_FORCE_MIX, DEFAULT_ORDER_MIX, DEFAULT_TIF_MIX, MIX_HELP
from tools.loadgen.outcome import EXIT_UNANSWERED, Outputs, finish
from tools.loadgen.plan import LoadOptions, new_run_id, parse_force_mix, parse_mix, parse_tif_mix
from tools.loadgen.runner import LoadgenError, LoadRun, Progress, Target, run_load
from tools.loadgen.schedule import STAGES_HELP, parse_stages
from tools.loadgen.thresholds import THRESHOLD_HELP
from tools.loadgen.view import LiveView

__all__ = ["EXIT_UNANSWERED", "add_arguments", "execute", "finish", "run_loadgen"]

DESCRIPTION = """\
Load-test a running at-exec-sim (open loop) and report. The stream and subjects
are the service's settings (NATS_STREAM, NATS_SUBJECT_*), and the generator
connects to NATS as the service does, from the same environment: NATS_URL (or
--url), and NATS_CREDS_FILE, NATS_NKEY_SEED_FILE, NATS_TLS_CA_FILE,
NATS_TLS_CERT_FILE + NATS_TLS_KEY_FILE and NATS_INBOX_PREFIX when set.

Exit status: 0 the thresholds passed (without --threshold: answered==100% and
invalid_filled==0), 1 they did not, 2 bad options, 3 NATS or the stream unreachable."""

EXIT_UNREACHABLE = 3

EPILOG = f"""\
{MIX_HELP}

--stages is {STAGES_HELP}.
--quantity and --notional are MIN-MAX (or one value).
--threshold is {THRESHOLD_HELP}:
{metrics_help()}

examples:
  at-exec-sim loadgen --count 5000 --rate 1000 --json run.json --csv history.csv
  at-exec-sim loadgen --duration 60 --rate 200 --mix market=1,limit=1 --sides buy --invalid-share 0.05
  at-exec-sim loadgen --stages 10s:100,30s:1000,10s:0 --threshold 'overhead_p99<20ms' --threshold 'answered>=99.9%'
  at-exec-sim loadgen --count 2000 --tif-mix none=5,ioc,fok,day,gtc --force-mix none=8,full,partial,reject
  at-exec-sim loadgen --count 5000 --rate 1000 --baseline run.json --threshold 'overhead_p99<1.5x'
  at-exec-sim loadgen --count 0 --feed-rate 5000 --feed-instruments BTC/USD,EURUSD --duration 30
  at-exec-sim loadgen --count 0 --feed-rate 90 --metrics-url off     # a feed until stopped"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, each with its range checked as it is parsed (tools/arguments.py)."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("--url", type=arguments.names, help="NATS server(s), comma-separated (default: NATS_URL)")
    parser.add_argument("--count", type=arguments.whole(0),
                        help="intents to send (default: 1000; 0: none, a feed-only run of --duration, or until "
                             "stopped (Ctrl-C, SIGTERM) without one)")
    parser.add_argument("--duration", type=arguments.number(0, lo_open=True),
                        help="seconds to send for, at --rate (which must then be above 0)")
    parser.add_argument("--rate", type=arguments.number(0), default=500.0,
                        help="intents per second, open loop; 0: as fast as possible")
    parser.add_argument("--stages", type=arguments.stages,
                        help=f"ramping arrival rate instead of --rate/--count/--duration: {STAGES_HELP}")
    parser.add_argument("--mix", type=arguments.mix, default=DEFAULT_ORDER_MIX, help="order-type weights, TYPE=WEIGHT,...")
    parser.add_argument("--tif-mix", type=arguments.tif_mix, default=DEFAULT_TIF_MIX,
                        help="time-in-force weights over none, ioc, fok, day, gtc")
    parser.add_argument("--force-mix", type=arguments.force_mix, default=DEFAULT_FORCE_MIX,
                        help="forced-outcome weights over none, full, partial, reject")
    parser.add_argument("--instruments", type=arguments.names,
                        help="comma-separated instruments (default: a sample of FX, crypto, equities)")
    parser.add_argument("--sides", type=arguments.sides, default="buy,sell", help="comma-separated sides: buy, sell")
    parser.add_argument("--quantity", type=arguments.span(arguments.whole(1), "quantity"),
                        help="quantity range, MIN-MAX, in lots of each instrument (default: by --notional)")
    parser.add_argument("--notional", type=arguments.span(arguments.number(0, lo_open=True), "notional"),
                        default="1000-250000", help="order value range, MIN-MAX, at the instrument's reference price")
    parser.add_argument("--invalid-share", type=arguments.number(0, 1), default=0.0,
                        help="share of intents made invalid on purpose, 0..1")
    parser.add_argument("--hmac-secret", default=None, help="sign every intent (default: API_KEY_HMAC_SECRET)")
    parser.add_argument("--key-id", type=arguments.non_empty, default=None,
                        help="X-Key-Id of every intent: the keyring key whose secret --hmac-secret is")
    parser.add_argument("--agent-id", type=arguments.non_empty, default="demo_agent",
                        help="agent_id of every intent (one the key signs for)")
    parser.add_argument("--seed", type=arguments.whole(0), default=1, help="seed of the stream of intents")
    parser.add_argument("--run-id", type=arguments.run_id, default=None,
                        help="a fixed run id, the prefix of every corr_id (default: a fresh lg-<UTC time>-<hex> "
                             "per run; a fixed one sent again within IDEMPOTENCY_TTL_SEC is rejected as duplicate)")
    parser.add_argument("--drain-timeout", type=arguments.number(0), default=30.0,
                        help="seconds to wait for answers after sending (less when the service has handled every intent)")
    _add_judging_and_output(parser)


def _add_judging_and_output(parser: argparse.ArgumentParser) -> None:
    """How the run is followed, judged and written, and the quote feed beside it."""
    parser.add_argument("--metrics-url", type=arguments.metrics_url, default="auto",
                        help="the service's /metrics, read for its rejection and fault counts; "
                             "auto: http://localhost:PORT/metrics, off: not read")
    parser.add_argument("--threshold", type=arguments.threshold, action="append", metavar="EXPR",
                        help="a pass/fail criterion, repeatable (default: answered==100%% and invalid_filled==0)")
    parser.add_argument("--baseline", type=arguments.baseline_file, metavar="RUN.JSON",
                        help="an earlier --json file: print this run beside it (and allow x thresholds)")
    parser.add_argument("--json", type=arguments.writable_file, help="write the run (parameters, figures, verdict) as JSON")
    parser.add_argument("--csv", type=arguments.writable_file, help="write one row per second of the run as CSV")
    parser.add_argument("--csv-intents", type=arguments.writable_file, help="write one row per intent sent as CSV")
    parser.add_argument("--report", type=Path, help="write an HTML report with charts to this directory")
    parser.add_argument("--feed-rate", type=arguments.number(0), default=0.0,
                        help="quotes per second published on market.quote.<SYMBOL> beside the intents; 0: no feed")
    parser.add_argument("--feed-instruments", type=arguments.names,
                        help="comma-separated instruments of the feed (default: --instruments)")
    parser.add_argument("--quiet", action="store_true", help="no live view")


def options_from(args: argparse.Namespace, settings: Settings) -> LoadOptions:
    """Long because each check names its option (one line, exit 2) before anything connects."""
    quantity_min = quantity_max = None
    if args.quantity:
        low, _, high = args.quantity.partition("-")
        quantity_min, quantity_max = int(low), int(high or low)
    notional_low, _, notional_high = args.notional.partition("-")
    notional_min, notional_max = float(notional_low), float(notional_high or notional_low)
    if not 0 < notional_min <= notional_max:
        raise ValueError(f"--notional {args.notional!r}: needs 0 < MIN <= MAX")
    rate = args.rate
    stages = parse_stages(args.stages) if args.stages else ()
    if stages and (args.count is not None or args.duration is not None):
        raise ValueError("--stages replaces --count and --duration: give one or the other")
    if args.count == 0 and args.feed_rate <= 0:
        raise ValueError("--count 0 sends no intent: it needs --feed-rate above 0 (a feed-only run)")
    if args.count and args.duration is not None:
        raise ValueError("--count and --duration: give one (or --count 0 with --duration, a feed-only run)")
    if args.duration is not None and rate == 0 and args.count != 0:
        raise ValueError("--duration needs a --rate above 0 (at 0 the count would be unknown)")
    if args.key_id is not None and args.hmac_secret is None and not settings.hmac_secret:
        raise ValueError("--key-id needs --hmac-secret (or API_KEY_HMAC_SECRET): the key's secret signs")
    if args.count is not None:
        count = args.count
    else:
        count = max(1, int(args.duration * rate)) if args.duration else 1000
    return LoadOptions(
        count=count, rate_per_s=rate, stages=stages,
        order_mix=parse_mix(args.mix), tif_mix=parse_tif_mix(args.tif_mix), force_mix=parse_force_mix(args.force_mix),
        instruments=_split(args.instruments) or si.INSTRUMENTS,
        sides=_split(args.sides),
        quantity_min=quantity_min, quantity_max=quantity_max, notional_min=notional_min, notional_max=notional_max,
        invalid_share=args.invalid_share,
        hmac_secret=(args.hmac_secret.encode() if args.hmac_secret is not None else settings.hmac_secret),
        key_id=args.key_id, agent_id=args.agent_id, seed=args.seed,
        run_id=args.run_id or new_run_id(), sessions_on=settings.market_sessions,
    )


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",")) if text else ()


def feed_from(args: argparse.Namespace, options: LoadOptions) -> FeedOptions | None:
    if args.feed_rate <= 0:
        return None
    instruments = _split(args.feed_instruments) or options.instruments
    from common.contracts import quote_subject

    for instrument in instruments:
        quote_subject(instrument)  # ValueError when it gives no subject
    duration = args.duration if options.total == 0 else None
    return FeedOptions(args.feed_rate, instruments, duration)


def target_from(args: argparse.Namespace, settings: Settings) -> Target:
    urls = _split(args.url) if args.url else settings.nats_urls
    metrics_url = args.metrics_url
    if metrics_url == "auto":
        metrics_url = f"http://localhost:{settings.port}/metrics"
    return Target(settings, urls, metrics_url)


def run_loadgen(args: argparse.Namespace, settings: Settings, console: Console | None = None) -> int:
    console = console or tool_console()
    try:
        options = options_from(args, settings)
        feed = feed_from(args, options)
        outputs = Outputs.from_args(args, options, settings)
    except ValueError as exc:
        print(f"at-exec-sim loadgen: error: {exc}", file=sys.stderr)
        return 2
    if args.report is not None and importlib.util.find_spec("matplotlib") is None:
        console.print("at-exec-sim loadgen --report needs the tools extra (matplotlib): pip install 'at-exec-sim[tools]'")
        return 2
    try:
        result = execute(target_from(args, settings), options, args.drain_timeout, console, live=not args.quiet,
                         feed=feed)
    except LoadgenError as exc:
        # soft_wrap: one line however narrow the terminal (rich wraps at 80 columns when piped).
        console.print(f"[red]at-exec-sim loadgen:[/] {exc}", soft_wrap=True)
        return EXIT_UNREACHABLE
    return finish(result, console, outputs=outputs)


def execute(target: Target, options: LoadOptions, drain_timeout_s: float, console: Console, live: bool,
            feed: FeedOptions | None = None) -> LoadRun:
    if not live:
        return asyncio.run(run_load(target, options, drain_timeout_s, feed=feed))
    with LiveView(console) as view:
        def show(progress: Progress) -> None:
            view.update(progress)
        return asyncio.run(run_load(target, options, drain_timeout_s, on_progress=show, feed=feed))
