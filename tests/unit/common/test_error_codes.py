"""common/error_codes.py is the one table of EXEC codes, and README.md publishes the same one."""

from __future__ import annotations

import re
from pathlib import Path

from common import error_codes

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_code_has_a_meaning_and_the_readme_lists_them_all():
    constants = {value for name, value in vars(error_codes).items() if name.isupper() and isinstance(value, str)}
    assert constants == set(error_codes.MEANINGS)
    published = dict(re.findall(r"^\| (EXEC-\d{3}) \| (.+?) \|$", README.read_text(), flags=re.MULTILINE))
    assert published == error_codes.MEANINGS


def test_no_other_module_spells_out_a_code():
    root = README.parent
    sources = [p for package in ("common", "worker", "supervisor", "tools") for p in (root / package).rglob("*.py")]
    spelled = [str(p.relative_to(root)) for p in sources
               if p.name != "error_codes.py" and re.search(r"[\"']EXEC-\d{3}[\"']", p.read_text())]
    assert sources and not spelled
