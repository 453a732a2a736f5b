"""common/error_codes.py is the one table of EXEC codes, and docs/errors.md publishes the same one."""

from __future__ import annotations

import re
from pathlib import Path

from common import error_codes

ROOT = Path(__file__).resolve().parents[3]
ERRORS_PAGE = ROOT / "docs" / "errors.md"


def test_every_code_has_a_meaning_and_the_errors_page_lists_them_all():
    constants = {value for name, value in vars(error_codes).items() if name.isupper() and isinstance(value, str)}
    assert constants == set(error_codes.MEANINGS)
    published = dict(re.findall(r"^\| (EXEC-\d{3}) \| (.+?) \|$", ERRORS_PAGE.read_text(), flags=re.MULTILINE))
    assert published == error_codes.MEANINGS


def test_no_other_module_spells_out_a_code():
    root = ROOT
    sources = [p for package in ("common", "worker", "supervisor", "tools") for p in (root / package).rglob("*.py")]
    spelled = [str(p.relative_to(root)) for p in sources
               if p.name != "error_codes.py" and re.search(r"[\"']EXEC-\d{3}[\"']", p.read_text())]
    assert sources and not spelled
