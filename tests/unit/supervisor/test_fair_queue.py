"""Fair dispatch (supervisor/fair_queue.py): the agent read from raw bytes, and turns across agents."""

from __future__ import annotations

import orjson
import pytest

from common.config import load_settings
from supervisor.fair_queue import MAX_KEY_BYTES, FairQueue, agent_key
from supervisor.intake import dispatch_window
from tools import sample_intents as si


@pytest.mark.parametrize(("body", "key"), [
    (si.encode(si.intent("c1", agent_id="alice")), b"alice"),
    (b'{"corr_id": "c", "agent_id" :  "bob", "x": 1}', b"bob"),
    (b'{"agent_id":"", "corr_id": "c"}', b""),
    (b'{"corr_id": "c"}', b""),  # no agent: the anonymous queue
    (b'{"agent_id": 7}', b""),  # not a string: the worker rejects it; any queue will do
    (b'{"note": "agent_id", "agent_id": "eve"}', b"eve"),  # named twice: parsed
    (b'{"agent_id": "' + b"a" * 100 + b'"}', b"a" * MAX_KEY_BYTES),
    (b'{"agent_id": "unterminated', b"unterminated"),
    (b"\xff\xfe not json", b""),
])
def test_agent_key_reads_the_raw_agent_id_or_nothing(body: bytes, key: bytes) -> None:
    assert agent_key(body) == key


def test_agent_key_agrees_with_the_parse_on_the_sample_intents() -> None:
    for body in si.mixed(200, seed=3):
        assert agent_key(si.encode(body)) == orjson.loads(si.encode(body))["agent_id"].encode()


def test_a_quiet_agents_intent_goes_in_the_first_turn_whatever_is_queued_before_it() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(10_000):
        queue.put(b"flood", f"f{i}")
    queue.put(b"quiet", "q0")
    queue.put(b"other", "o0")
    queue.put(b"other", "o1")
    first = queue.take(4)
    assert first == ["f0", "q0", "o0", "f1"] and len(queue) == 10_000 - 2 + 1
    assert queue.take(3) == ["o1", "f2", "f3"] and queue.agents == 1
    rest = queue.take(20_000)  # one agent left: its items in order, all of them
    assert rest == [f"f{i}" for i in range(4, 10_000)] and len(queue) == 0 and queue.agents == 0
    assert queue.take(5) == []


def test_each_agents_items_keep_their_order_and_none_is_lost_or_doubled() -> None:
    queue: FairQueue[tuple[bytes, int]] = FairQueue()
    expected = [(agent, i) for i in range(50) for agent in (b"a", b"b", b"c") if i < {b"a": 50, b"b": 7, b"c": 20}[agent]]
    for item in expected:
        queue.put(item[0], item)
    taken = []
    while queue:
        taken.extend(queue.take(6))
    assert sorted(taken) == sorted(expected)
    for agent in (b"a", b"b", b"c"):
        mine = [i for a, i in taken if a == agent]
        assert mine == sorted(mine)
    queue.put(b"a", (b"a", 0))
    queue.clear()
    assert len(queue) == 0 and queue.take(1) == []


def test_the_dispatch_window_is_two_chunks_per_worker() -> None:
    assert dispatch_window(load_settings({"WORKERS": "2", "BATCH_SIZE": "256"})) == 512
    assert dispatch_window(load_settings({"WORKERS": "64", "BATCH_SIZE": "10"})) == 2 * 64 * 16
