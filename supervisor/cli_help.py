"""How the command line explains itself: help with defaults and examples, errors in one line.

Runs in the CLI process (the supervisor's, before anything starts, and the
tools' beside it). Owns the parser class every `at-exec-sim` parser uses, so a
bad argument reads the same in each subcommand: one line on stderr naming the
command and the argument, then exit code 2. It owns the help texts of `run`
and `config` too; the tools keep theirs beside their options.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_BAD_ARGUMENTS = 2

RUN_DESCRIPTION = """\
Run the service: pull order intents from NATS JetStream, simulate them, publish
fills, reconciles and order updates, and serve /metrics and /healthz.

It takes no options: it is configured by environment variables (NATS_URL,
WORKERS, SIMULATION_*, ...), read once at start. `at-exec-sim config` lists
every one with its value, its default and where the value came from; the
documentation's Configuration page (docs/configuration.md) says what each does.
A bad value is one line on stderr and exit code 2."""

RUN_EPILOG = """\
examples:
  at-exec-sim config                      # what this environment would run with
  NATS_URL=nats://127.0.0.1:4222 WORKERS=4 at-exec-sim run"""

CONFIG_DESCRIPTION = """\
Print the configuration this environment gives the service, one row per
environment variable: NAME, value, default, source (env: set in the
environment; default: not set). Secrets are shown as "set" or "unset" and
the passwords in NATS_URL as ***. Exit code 2 when a value is invalid."""

CONFIG_EPILOG = """\
examples:
  at-exec-sim config
  WORKERS=8 at-exec-sim config --json | jq '.[] | select(.source == "env")'"""

TOP_EPILOG = """\
examples:
  at-exec-sim demo                        # the whole product on one machine
  at-exec-sim config                      # every setting, its value and default
  at-exec-sim run                         # the service, configured by the environment
  at-exec-sim loadgen --rate 500 --duration 30

`at-exec-sim COMMAND --help` describes each command."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs as written (their examples keep their lines); each option with
    its default, unless it has none to show (None, a switch's False) or its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "%(default)" in text or "default:" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the help above and a one-line error (argparse's usage block buries it in CI logs)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_ARGUMENTS)
