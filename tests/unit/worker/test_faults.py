"""worker.faults: where a halt and the halted windows right after it end."""

from __future__ import annotations

from tests.builders import SEED, make_settings
from worker.faults import VenueFaults

WINDOW_MS = 60_000


def test_with_every_window_halted_a_halt_lasts_until_the_horizon():
    faults = VenueFaults(make_settings(fault_halt_probability=1.0, fault_halt_window_s=60), SEED)
    halt = faults.halt_window("AAPL", 10 * WINDOW_MS + 5)
    assert halt == (10 * WINDOW_MS, 11 * WINDOW_MS)
    assert faults.halted_until("AAPL", halt, 15 * WINDOW_MS + 1) == 16 * WINDOW_MS
    assert faults.halted_until("AAPL", halt, 11 * WINDOW_MS) == 11 * WINDOW_MS


def test_a_halt_ends_at_the_first_window_that_trades():
    faults = VenueFaults(make_settings(fault_halt_probability=0.5, fault_halt_window_s=60), SEED)
    for window in range(200):
        halt = faults.halt_window("ES_F", window * WINDOW_MS)
        if halt is None:
            continue
        end = faults.halted_until("ES_F", halt, 10**12)
        assert end > halt[0] and faults.halt_window("ES_F", end) is None
        assert all(faults.halt_window("ES_F", t) is not None for t in range(halt[0], end, WINDOW_MS))
