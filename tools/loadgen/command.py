"""`at-exec-sim loadgen` options and the run from the command line.

Runs in the loadgen process. NATS URL, subjects and NATS authentication are the
service's own settings (the same environment), so the tool talks to the service
it sits next to, logged in as the service is. Exit status: 0 when every valid intent was answered, 1 when some were
not (counts printed), 2 for bad options (or --report without matplotlib), 3
when NATS or the stream cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path

import orjson
from rich.console import Console

from common.config import Settings
from tools import arguments
from tools.console import tool_console
from tools.loadgen.plan import LoadOptions, parse_mix
from tools.loadgen.runner import LoadgenError, LoadRun, Target, run_load
from tools.loadgen.view import LiveView, summary_table

DESCRIPTION = """\
Load-test a running at-exec-sim (open loop) and report. The stream and subjects
are the service's settings (NATS_STREAM, NATS_SUBJECT_*), and the generator
connects to NATS as the service does, from the same environment: NATS_URL (or
--url), and NATS_CREDS_FILE, NATS_NKEY_SEED_FILE, NATS_TLS_CA_FILE,
NATS_TLS_CERT_FILE + NATS_TLS_KEY_FILE and NATS_INBOX_PREFIX when set."""

EXIT_UNANSWERED = 1
EXIT_UNREACHABLE = 3


EPILOG = """\
--mix is TYPE=WEIGHT,... over the order types market, limit, stop, stop_limit (a
type left out is not sent). --quantity and --notional are MIN-MAX (or one value).

examples:
  at-exec-sim loadgen --count 5000 --rate 1000 --json run.json
  at-exec-sim loadgen --duration 60 --rate 200 --mix market=1,limit=1 --sides buy --invalid-share 0.05"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, each with its range checked as it is parsed (tools/arguments.py)."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("--url", type=arguments.names, help="NATS server(s), comma-separated (default: NATS_URL)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--count", type=arguments.whole(1), help="intents to send (default: 1000)")
    size.add_argument("--duration", type=arguments.number(0, lo_open=True),
                      help="seconds to send for, at --rate (which must then be above 0)")
    parser.add_argument("--rate", type=arguments.number(0), default=500.0,
                        help="intents per second, open loop; 0: as fast as possible")
    parser.add_argument("--mix", type=arguments.mix, default="market=4,limit=3,stop=2,stop_limit=1",
                        help="order-type weights, TYPE=WEIGHT,...")
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
    parser.add_argument("--run-id", type=arguments.non_empty, default="lg", help="corr_id prefix")
    parser.add_argument("--drain-timeout", type=arguments.number(0), default=30.0,
                        help="seconds to wait for answers after sending")
    parser.add_argument("--json", type=arguments.writable_file, help="write every figure to this JSON file")
    parser.add_argument("--report", type=Path, help="write an HTML report with charts to this directory")
    parser.add_argument("--quiet", action="store_true", help="no live view")


def options_from(args: argparse.Namespace, settings: Settings) -> LoadOptions:
    quantity_min = quantity_max = None
    if args.quantity:
        low, _, high = args.quantity.partition("-")
        quantity_min, quantity_max = int(low), int(high or low)
    notional_low, _, notional_high = args.notional.partition("-")
    notional_min, notional_max = float(notional_low), float(notional_high or notional_low)
    if not 0 < notional_min <= notional_max:
        raise ValueError(f"--notional {args.notional!r}: needs 0 < MIN <= MAX")
    rate = args.rate
    if args.duration is not None and rate == 0:
        raise ValueError("--duration needs a --rate above 0 (at 0 the count would be unknown)")
    count = args.count if args.count is not None else max(1, int(args.duration * rate)) if args.duration else 1000
    return LoadOptions(
        count=count,
        rate_per_s=rate,
        order_mix=parse_mix(args.mix),
        instruments=tuple(i.strip() for i in args.instruments.split(",")) if args.instruments else LoadOptions().instruments,
        sides=tuple(s.strip() for s in args.sides.split(",")),
        quantity_min=quantity_min,
        quantity_max=quantity_max,
        notional_min=notional_min,
        notional_max=notional_max,
        invalid_share=args.invalid_share,
        hmac_secret=(args.hmac_secret.encode() if args.hmac_secret is not None else settings.hmac_secret),
        key_id=args.key_id,
        agent_id=args.agent_id,
        seed=args.seed,
        run_id=args.run_id,
    )


def target_from(args: argparse.Namespace, settings: Settings) -> Target:
    urls = tuple(u.strip() for u in args.url.split(",")) if args.url else settings.nats_urls
    return Target(settings, urls)


def run_loadgen(args: argparse.Namespace, settings: Settings, console: Console | None = None) -> int:
    console = console or tool_console()
    try:
        options = options_from(args, settings)
    except ValueError as exc:
        print(f"at-exec-sim loadgen: error: {exc}", file=sys.stderr)
        return 2
    if args.report is not None and importlib.util.find_spec("matplotlib") is None:
        console.print("at-exec-sim loadgen --report needs the tools extra (matplotlib): pip install 'at-exec-sim[tools]'")
        return 2
    try:
        result = execute(target_from(args, settings), options, args.drain_timeout, console, live=not args.quiet)
    except LoadgenError as exc:
        # soft_wrap: one line however narrow the terminal (rich wraps at 80 columns when piped).
        console.print(f"[red]at-exec-sim loadgen:[/] {exc}", soft_wrap=True)
        return EXIT_UNREACHABLE
    return finish(result, console, args.json, args.report)


def execute(target: Target, options: LoadOptions, drain_timeout_s: float, console: Console, live: bool) -> LoadRun:
    if not live:
        return asyncio.run(run_load(target, options, drain_timeout_s))
    with LiveView(console) as view:
        return asyncio.run(run_load(target, options, drain_timeout_s, on_progress=view.update))


def finish(result: LoadRun, console: Console, json_path: Path | None, report_dir: Path | None) -> int:
    summary = result.summary
    console.print(summary_table(summary))
    if json_path is not None:
        json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        console.print(f"figures written to {json_path}")
    if report_dir is not None:
        from tools.loadgen.report import write_report

        console.print(f"report written to {write_report(report_dir, result.records, summary)}")
    if summary["outstanding"] or summary["invalid_answered_with_a_fill"]:
        console.print(f"[red]not every intent was answered as expected:[/] {summary['outstanding']} valid intents "
                      f"unanswered, {summary['invalid_answered_with_a_fill']} invalid ones filled")
        return EXIT_UNANSWERED
    return 0
