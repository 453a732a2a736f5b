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


def test_worker_rejections_still_export_their_codes():
    from worker import rejections

    assert rejections.DUPLICATE_CORR_ID == error_codes.DUPLICATE_CORR_ID
    assert rejections.ENVELOPE_INVALID == rejections.SCHEMA_INVALID == "EXEC-001"
    assert rejections.INTERNAL_ERROR == "EXEC-013"
