"""Fair dispatch against an agent that names another agent's queue (supervisor/fair_queue.py).

`agent_key` takes the first `"agent_id"` key anywhere in the body. An intent of
mallory's whose metadata holds `"agent_id": "alice"` before its own top-level
agent_id passes the schema, executes as mallory's (signed with mallory's own key
when a keyring is set), and waits in alice's queue: a flood built that way puts
alice's next intent behind all of it, which is what fair dispatch is for.
"""

from __future__ import annotations

import orjson
import pytest

from supervisor.fair_queue import FairQueue, agent_key
from tools import sample_intents as si


def aimed_at(victim: str, corr_id: str, agent_id: str) -> bytes:
    """An intent of `agent_id` whose first "agent_id" key is the victim's (inside metadata)."""
    return orjson.dumps({"metadata": {"agent_id": victim}, **si.intent(corr_id, agent_id=agent_id)})


@pytest.mark.xfail(strict=True, reason="agent_key reads the first \"agent_id\" key at any depth: an agent can "
                   "queue its flood in another agent's queue (fair_queue.py agent_key)")
def test_a_flood_aimed_at_another_agents_queue_does_not_delay_it() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(1_000):
        body = aimed_at("alice", f"m-{i}", "mallory")
        queue.put(agent_key(body), f"mallory-{i}")
    alice = si.encode(si.intent("a-0", agent_id="alice"))
    queue.put(agent_key(alice), "alice-0")
    assert "alice-0" in queue.take(2)
