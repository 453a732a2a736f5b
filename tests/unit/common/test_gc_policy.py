"""The collector settings, each in a child interpreter so this test process keeps its own."""

from __future__ import annotations

import subprocess
import sys


def run_child(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_start_up_objects_are_frozen_and_the_young_threshold_raised() -> None:
    run_child(
        "import gc\n"
        "from common.gc_policy import settle_after_start, YOUNG_THRESHOLD\n"
        "assert gc.get_freeze_count() == 0\n"
        "settle_after_start()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700\n"
        "assert gc.isenabled()\n"
    )


def test_the_supervisor_collects_on_its_schedule_only() -> None:
    run_child(
        "import gc, time\n"
        "from common.gc_policy import CollectionSchedule, settle_after_start\n"
        "settle_after_start(automatic=False)\n"
        "assert not gc.isenabled() and gc.get_freeze_count() > 1000\n"
        "schedule = CollectionSchedule(interval_s=60, growth_limit=10_000)\n"
        "def make_cycles(n):\n"
        "    for _ in range(n):\n"
        "        node = []\n"
        "        node.append(node)\n"
        "make_cycles(5_000)\n"
        "schedule.tick(time.monotonic())\n"
        "assert schedule.collections == 0  # neither due nor grown: the cycles wait\n"
        "make_cycles(6_000)\n"
        "schedule.tick(time.monotonic())\n"
        "assert schedule.collections == 1 and schedule.freed >= 11_000, schedule.freed  # grown past the limit\n"
        "make_cycles(10)\n"
        "schedule.tick(time.monotonic() + 61)\n"
        "assert schedule.collections == 2 and schedule.freed >= 11_010  # due\n"
    )
