"""The worker process's CPU priority: niced and SCHED_BATCH, run in a child so this process keeps its own."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from worker.process import yield_cpu_to_supervisor


def _priority_after(niceness: int, answer) -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    yield_cpu_to_supervisor(niceness)
    answer.send((os.getpriority(os.PRIO_PROCESS, 0) - before, os.sched_getscheduler(0)))


def priority_change(niceness: int) -> tuple[int, int]:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_priority_after, args=(niceness, send))
    child.start()
    try:
        assert receive.poll(30), "the child did not answer"
        return receive.recv()
    finally:
        child.join(10)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_workers_yield_the_cpu_to_the_supervisor():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    raised, policy = priority_change(5)
    assert raised == min(5, 19 - base) and policy == os.SCHED_BATCH


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_niceness_zero_leaves_the_worker_as_it_is():
    assert priority_change(0) == (0, os.sched_getscheduler(0))
