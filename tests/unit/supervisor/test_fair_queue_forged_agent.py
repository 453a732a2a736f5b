"""Fair dispatch against an agent that names another agent's queue (supervisor/fair_queue.py).

An intent of mallory's whose metadata holds `"agent_id": "alice"` before its own
top-level agent_id passes the schema and executes as mallory's (signed with
mallory's own key when a keyring is set). Were it queued by the first
`"agent_id"` in its bytes, it would wait in alice's queue, and a flood built that
way would put alice's next intent behind all of it. `agent_key` reads the
top-level agent_id whatever the body hides before it.
"""

from __future__ import annotations

import orjson
import pytest

from supervisor.fair_queue import FairQueue, agent_key
from tools import sample_intents as si


def aimed_at(victim: str, corr_id: str, agent_id: str) -> bytes:
    """An intent of `agent_id` whose first "agent_id" key is the victim's (inside metadata)."""
    return orjson.dumps({"metadata": {"agent_id": victim}, **si.intent(corr_id, agent_id=agent_id)})


def test_a_flood_aimed_at_another_agents_queue_does_not_delay_it() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(1_000):
        body = aimed_at("alice", f"m-{i}", "mallory")
        queue.put(agent_key(body), f"mallory-{i}")
    alice = si.encode(si.intent("a-0", agent_id="alice"))
    queue.put(agent_key(alice), "alice-0")
    assert "alice-0" in queue.take(2)


@pytest.mark.parametrize("body", [
    b'{"metadata": {"agent_id": "alice"}, "agent_id": "mallory"}',
    b'{"metadata": {"note": "agent_id"}, "agent_id": "mallory"}',
    b'{"metadata": {"agent_id": "alice"}, "agent\\u005fid": "mallory"}',
    b'{"agent\\u005fid": "mallory", "metadata": {"agent_id": "alice"}}',
    b'{"note": "\\"agent_id\\": \\"alice\\"", "agent_id": "mallory"}',
])
def test_the_queue_is_the_top_level_agent_whatever_the_body_hides(body: bytes) -> None:
    assert orjson.loads(body)["agent_id"] == "mallory"
    assert agent_key(body) == b"mallory"


def test_plain_and_malformed_bodies() -> None:
    assert agent_key(si.encode(si.intent("c-1", agent_id="alice"))) == b"alice"
    assert agent_key(b'{"agent_id": "alice", "agent_id": "bob"}') == b"bob"  # the worker rejects it anyway
    assert agent_key(b'{"agent_id": 7, "metadata": {"agent_id": "alice"}}') == b""
    assert agent_key(b'["agent_id", "agent_id"]') == b""
    assert agent_key(b'{"agent_id": "alice", "x": "agent_id"') == b""  # truncated: not JSON
