"""settle_after_start freezes what start-up built and makes young collections rarer (in a child
interpreter, so this test process keeps its own collector settings)."""

from __future__ import annotations

import subprocess
import sys


def test_start_up_objects_are_frozen_and_the_young_threshold_raised() -> None:
    code = (
        "import gc\n"
        "from common.gc_policy import settle_after_start, YOUNG_THRESHOLD\n"
        "assert gc.get_freeze_count() == 0\n"
        "settle_after_start()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700\n"
        "assert gc.isenabled()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
