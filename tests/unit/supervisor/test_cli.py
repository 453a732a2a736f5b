"""The command line as a user meets it: --version, help with defaults and examples, `config`, bad arguments.

In-process through supervisor.cli.main, with the environment set per test (monkeypatch) and the
output captured; nothing is mocked. The bad-argument cases point loadgen at a closed loopback port,
so a value that slipped through the checks would end in a connection error (exit 3), not exit 2.
"""

from __future__ import annotations

import argparse
import json
import re
from importlib.metadata import version

import pytest

from common.config import ENVIRONMENT_VARIABLES
from supervisor.cli import main
from tools import demo
from tools.loadgen import command as loadgen
from tools.replay import command as replay

CLOSED_PORT = "nats://127.0.0.1:1"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_is_the_package_version_healthz_reports(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    # What /healthz reports (supervisor/http/app.py): the installed distribution's version.
    assert out == f"at-exec-sim {version('at-exec-sim')}\n"


def test_run_help_says_where_the_settings_are(capsys):
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0
    assert "environment variables" in out
    assert "at-exec-sim config" in out
    assert "Configuration" in out and "examples:" in out


@pytest.mark.parametrize("tool", [demo, loadgen, replay])
def test_every_tool_option_shows_its_default_and_the_help_has_examples(capsys, tool):
    command = tool.__name__.split(".")[1]
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    flat = " ".join(out.split())  # argparse wraps the help column
    assert "examples: at-exec-sim " + command in flat
    probe = argparse.ArgumentParser()
    tool.add_arguments(probe)
    for action in probe._actions:
        if action.default not in (None, False, argparse.SUPPRESS):
            assert f"(default: {action.default})" in flat, action.dest


def test_loadgen_help_says_the_mix_syntax(capsys):
    _, out, _ = run_cli(capsys, "loadgen", "--help")
    assert "TYPE=WEIGHT" in out
    flat = " ".join(out.split())
    assert "--tif-mix none=5,ioc,fok,day,gtc --force-mix none=8,full,partial,reject" in flat
    assert "none, ioc, fok, day, gtc" in flat and "none, full, partial, reject" in flat
    assert "--stages 10s:100,30s:1000,10s:0" in flat and "'overhead_p99<20ms'" in flat
    assert "overhead_p99 ms" in flat and "answered %" in flat  # the metrics a threshold can name


def config_rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "value", "default", "source"]
    # Columns are at least two spaces apart; an empty value is blank between them.
    starts = [lines[0].index(column) for column in ("NAME", "value", "default", "source")]
    rows = {}
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = cells[1:]
    return rows


def test_config_is_a_table_of_every_setting_with_secrets_hidden(capsys, monkeypatch):
    monkeypatch.setenv("API_KEY_HMAC_SECRET", "hunter2-signing-secret")
    monkeypatch.setenv("NATS_URL", "nats://trader:p4ssw0rd@127.0.0.1:4222,nats://127.0.0.1:4223")
    monkeypatch.setenv("WORKERS", "3")
    monkeypatch.delenv("SIMULATION_SLIPPAGE_BPS", raising=False)
    code, out, _ = run_cli(capsys, "config")
    assert code == 0
    assert "hunter2" not in out and "p4ssw0rd" not in out
    assert "Settings(" not in out and "b''" not in out
    rows = config_rows(out)
    assert list(rows) == list(ENVIRONMENT_VARIABLES)
    assert rows["API_KEY_HMAC_SECRET"] == ["set", "unset", "env"]
    assert rows["NATS_URL"] == ["nats://***@127.0.0.1:4222,nats://127.0.0.1:4223", "nats://localhost:4222", "env"]
    assert rows["WORKERS"][0] == "3" and rows["WORKERS"][2] == "env"
    assert rows["SIMULATION_SLIPPAGE_BPS"] == ["2", "2", "default"]
    assert rows["SIMULATION_MARKET_SESSIONS"] == ["on", "on", "default"]


def test_config_json_for_machines(capsys, monkeypatch):
    monkeypatch.setenv("API_KEY_HMAC_SECRET", "hunter2-signing-secret")
    monkeypatch.setenv("PORT", "9100")
    code, out, _ = run_cli(capsys, "config", "--json")
    assert code == 0
    table = json.loads(out)
    assert [row["name"] for row in table] == list(ENVIRONMENT_VARIABLES)
    by_name = {row["name"]: row for row in table}
    assert by_name["PORT"] == {"name": "PORT", "value": "9100", "default": "8004", "source": "env"}
    assert by_name["API_KEY_HMAC_SECRET"]["value"] == "set"
    assert "hunter2" not in out


@pytest.mark.parametrize(("argv", "option"), [
    (["--sides", "up"], "--sides"),
    (["--sides", "buy,"], "--sides"),
    (["--rate", "-5"], "--rate"),
    (["--rate", "nan"], "--rate"),
    (["--invalid-share", "1.5"], "--invalid-share"),
    (["--invalid-share", "-0.1"], "--invalid-share"),
    (["--count", "0"], "--count"),
    (["--count", "-3"], "--count"),
    (["--duration", "0"], "--duration"),
    (["--duration", "5", "--rate", "0"], "--duration"),
    (["--mix", "market=-1"], "--mix"),
    (["--mix", "swap=1"], "--mix"),
    (["--mix", "market=x"], "--mix"),
    (["--mix", "market=0"], "--mix"),
    (["--instruments", "EURUSD,,AAPL"], "--instruments"),
    (["--quantity", "5-2"], "--quantity"),
    (["--quantity", "0"], "--quantity"),
    (["--quantity", "a-b"], "--quantity"),
    (["--notional", "0-100"], "--notional"),
    (["--notional", "500-100"], "--notional"),
    (["--drain-timeout", "-1"], "--drain-timeout"),
    (["--agent-id", " "], "--agent-id"),
    (["--run-id", ""], "--run-id"),
    (["--seed", "x"], "--seed"),
    (["--json", "/nonexistent-dir/run.json"], "--json"),
    (["--csv", "/nonexistent-dir/h.csv"], "--csv"),
    (["--tif-mix", "gtd=1"], "--tif-mix"),
    (["--force-mix", "cancel=1"], "--force-mix"),
    (["--force-mix", "none=0"], "--force-mix"),
    (["--stages", "10s"], "--stages"),
    (["--stages", "10s:0"], "--stages"),
    (["--stages", "10s:100", "--count", "5"], "--stages"),
    (["--threshold", "overhead_p99<20"], "--threshold"),
    (["--threshold", "nonsense"], "--threshold"),
    (["--threshold", "overhead_p99<1.2x"], "--threshold"),
    (["--baseline", "/nonexistent-dir/run.json"], "--baseline"),
    (["--run-id", "a b"], "--run-id"),
    (["--run-id", "x" * 101], "--run-id"),
    (["--metrics-url", "ftp://host/metrics"], "--metrics-url"),
    (["--feed-rate", "-1"], "--feed-rate"),
    (["--count", "0", "--duration", "5"], "--count"),
    (["--feed-rate", "10", "--feed-instruments", "BTC/USD,"], "--feed-instruments"),
])
def test_loadgen_refuses_a_bad_argument_in_one_line(capsys, argv, option):
    code, out, err = run_cli(capsys, "loadgen", "--url", CLOSED_PORT, "--quiet", *argv)
    assert code == 2, out + err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("at-exec-sim loadgen: error:") and option in err


@pytest.mark.parametrize("argv", [["--intents", "0"], ["--workers", "0"], ["--workers", "300"], ["--intents", "x"],
                                  ["--market", "file"]])
def test_demo_refuses_a_bad_argument_in_one_line(capsys, argv):
    code, _, err = run_cli(capsys, "demo", *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("at-exec-sim demo: error: argument " + argv[0])


def test_an_unknown_command_is_one_line(capsys):
    code, _, err = run_cli(capsys, "serve")
    assert code == 2
    assert err.count("\n") == 1 and "invalid choice: 'serve'" in err
