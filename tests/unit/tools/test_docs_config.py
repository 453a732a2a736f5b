"""docs/configuration.md is what tools/docs_config.py writes from the settings definition, and covers it all."""

from __future__ import annotations

import re

import pytest

from common import config
from common.config import ENVIRONMENT_VARIABLES, VARIABLE_GROUPS, load_settings
from common.config_fields import Variable
from common.config_fields import text as parse_text
from tools import docs_config

ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| (.+?) \| (.+) \|$", re.MULTILINE)


def test_the_committed_page_is_what_the_generator_writes():
    assert docs_config.PAGE.read_text() == docs_config.render(), (
        "docs/configuration.md is stale: run python -m tools.docs_config --write")


def test_every_variable_the_settings_read_has_a_row_with_a_default_and_a_meaning():
    rows = {name: (default, meaning) for name, default, meaning in ROW.findall(docs_config.PAGE.read_text())}
    assert list(rows) == list(ENVIRONMENT_VARIABLES)
    assert all(default.strip() and len(meaning) > 10 for default, meaning in rows.values())


def test_load_settings_reads_no_variable_outside_the_definition():
    asked: list[str] = []

    class Recorder(dict[str, str]):
        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            asked.append(key)
            return super().get(key, default)

    load_settings(Recorder())
    assert asked and set(asked) <= set(ENVIRONMENT_VARIABLES)


def test_a_variable_added_to_the_definition_is_documented_with_nothing_else_to_edit(monkeypatch: pytest.MonkeyPatch):
    extra = Variable("SERVICE_NAME_ALIAS", "service_name", parse_text, "a variable added in one place, for this test")
    heading, first = VARIABLE_GROUPS[0]
    monkeypatch.setattr(config, "VARIABLE_GROUPS", ((heading, (*first, extra)), *VARIABLE_GROUPS[1:]))
    monkeypatch.setattr(docs_config, "VARIABLE_GROUPS", config.VARIABLE_GROUPS)
    page = docs_config.render()
    assert "| `SERVICE_NAME_ALIAS` | `at-exec-sim` | a variable added in one place, for this test |" in page


def test_a_pipe_in_a_meaning_stays_inside_its_cell():
    assert docs_config.cell("`a|b`") == "`a\\|b`"


def test_check_fails_on_a_stale_page(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text(docs_config.render().replace("name in logs", "name in the logs"))
    monkeypatch.setattr(docs_config, "PAGE", stale)
    assert docs_config.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert docs_config.main(["--write"]) == 0
    assert docs_config.main(["--check"]) == 0
