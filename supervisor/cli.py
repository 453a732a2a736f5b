"""Command line: `at-exec-sim run | demo | loadgen | replay | config`.

Runs in the supervisor process. The only place that reads the environment
(through common.config.load_settings) and the only place that picks the event
loop. A configuration error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from common.config import ENVIRONMENT_VARIABLES, ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="at-exec-sim", description="Execution simulator for trading systems.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the service (configured by environment variables)")
    demo = commands.add_parser("demo", help="run the service against an embedded nats-server with sample intents")
    demo.add_argument("--intents", type=int, default=200, help="valid intents to send (default 200)")
    demo.add_argument("--workers", type=int, default=2, help="simulator workers (default 2)")
    loadgen = commands.add_parser("loadgen", help="load-test a running at-exec-sim (open loop) and report")
    from tools.loadgen.command import add_arguments

    add_arguments(loadgen)
    replay = commands.add_parser("replay", help="re-drive intents stored in the stream through the simulator")
    from tools.replay import add_arguments as add_replay_arguments

    add_replay_arguments(replay)
    commands.add_parser("config", help="print the configuration the environment gives, then exit")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"at-exec-sim: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    if args.command == "run":
        return run(settings)
    if args.command == "demo":
        from tools.demo import run_demo

        return run_demo(settings, intents=args.intents, workers=args.workers)
    if args.command == "loadgen":
        from tools.loadgen.command import run_loadgen

        return run_loadgen(args, settings)
    if args.command == "replay":
        from tools.replay import run_replay

        return run_replay(args, settings)
    if args.command == "config":
        for variable in ENVIRONMENT_VARIABLES:
            print(variable)
        print(settings)
        return 0
    return EXIT_CONFIG


def run(settings: Settings) -> int:
    # Order matters: the metrics directory is set before prometheus_client is imported.
    from common.metrics import build_metrics, prepare_multiproc_dir

    prepare_multiproc_dir(settings.prometheus_multiproc_dir, wipe=True)
    from common.logs import configure_logging

    configure_logging(settings.service_name, settings.log_level)
    metrics = build_metrics()

    import uvloop

    from supervisor.service import Service

    return uvloop.run(Service(settings, metrics).run())


if __name__ == "__main__":
    sys.exit(main())
