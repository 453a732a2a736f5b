"""Ramping stages: the arrival rate k6's ramping-arrival-rate gives, as due times."""

from __future__ import annotations

import pytest

from tools.loadgen.plan import LoadOptions, planned
from tools.loadgen.schedule import Stage, expected_count, parse_duration, parse_stages, staged_due_times


def test_durations_take_units():
    assert [parse_duration(t) for t in ("10s", "250ms", "2m", "1h", "5", "0s")] == [10, 0.25, 120, 3600, 5, 0]
    for bad in ("x", "-1s", "inf", "10d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_a_ramp_from_zero_sends_the_area_under_the_rate():
    stages = parse_stages("10s:100")
    due = list(staged_due_times(stages))
    assert len(due) == expected_count(stages) == 500
    # Arrivals by t are 5 t^2 (the rate 10 t integrated): intent i is due at sqrt(i / 5).
    assert due[0] == 0.0
    assert due[125] == pytest.approx(5.0) and due[320] == pytest.approx(8.0)
    assert due == sorted(due) and due[-1] < 10.0


def test_a_zero_second_stage_jumps_and_a_flat_stage_holds_the_rate():
    due = list(staged_due_times(parse_stages("0s:200,2s:200")))
    assert len(due) == 400
    assert due[:3] == pytest.approx([0.0, 0.005, 0.01]) and due[-1] == pytest.approx(1.995)


def test_ramp_up_hold_ramp_down_and_a_pause():
    stages = parse_stages("2s:100,1s:100,2s:0,3s:0,1s:50")
    due = list(staged_due_times(stages))
    assert len(due) == 100 + 100 + 100 + 25
    held = [t for t in due if 2.0 <= t < 3.0]
    assert len(held) == pytest.approx(100, abs=1)
    assert not [t for t in due if 5.0 < t < 8.0]  # the pause
    assert all(b >= a for a, b in zip(due, due[1:], strict=False))
    assert due[-1] < 9.0


def test_rate_within_each_second_follows_the_ramp():
    due = list(staged_due_times(parse_stages("10s:1000")))
    per_second = [sum(1 for t in due if k <= t < k + 1) for k in range(10)]
    # The rate at the middle of second k is 100 (k + 0.5): what arrives in it.
    assert per_second == pytest.approx([100 * (k + 0.5) for k in range(10)], abs=1)


@pytest.mark.parametrize(("text", "message"), [
    ("", "at least one stage"), ("10s", "DURATION:RATE"), ("10s:x", "a number"), ("10s:-5", "0 or more"),
    ("0s:100", "0 s in all"), ("10s:0", "no intent"), ("xs:10", "not a duration"),
])
def test_bad_stages(text, message):
    with pytest.raises(ValueError, match=message):
        parse_stages(text)


def test_stages_drive_the_plan():
    options = LoadOptions(stages=(Stage(1.0, 0.0), Stage(2.0, 100.0)), run_id="st")
    plan = list(planned(options, start_ms=0))
    assert options.total == len(plan) == 100
    assert plan[0].due_s == pytest.approx(1.0) and plan[-1].due_s < 3.0
