"""Agent shares (supervisor/agent_shares.py): one agent's intents count in the executing room only up to
its share, and the book (supervisor/book.py) lets the fetch read on past a flood within MAX_QUEUED_OVER_SHARE."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.config import load_settings
from common.config_fields import ConfigError
from supervisor.agent_shares import AgentShares
from supervisor.book import InFlightBook
from supervisor.inflight import InFlight

NOW = 5_000.0


def test_an_agents_intents_beyond_its_share_are_over_share_and_answered_ones_make_way() -> None:
    shares = AgentShares(share=3)
    for _ in range(5):
        shares.add(b"flood")
    shares.add(b"quiet")
    assert (shares.in_room, shares.over_share) == (4, 2)
    shares.remove(b"flood")  # one answered: the next over-share intent counts in the room
    assert (shares.in_room, shares.over_share, shares.held_by(b"flood")) == (4, 1, 4)
    shares.remove(b"quiet")
    shares.remove(b"quiet")  # nothing held: ignored, the counts cannot go negative
    assert (shares.in_room, shares.over_share, shares.agents) == (3, 1, 1)


@given(st.integers(1, 4), st.lists(st.tuples(st.booleans(), st.sampled_from([b"a", b"b", b"c"])), max_size=80))
def test_the_counts_are_always_the_sum_of_min_held_share_and_of_the_excess(share: int, steps) -> None:
    shares, held = AgentShares(share), {b"a": 0, b"b": 0, b"c": 0}
    for add, agent in steps:
        if add:
            shares.add(agent)
            held[agent] += 1
        else:
            shares.remove(agent)
            held[agent] = max(0, held[agent] - 1)
        assert shares.in_room == sum(min(h, share) for h in held.values())
        assert shares.over_share == sum(max(0, h - share) for h in held.values())


def book_of(**env: str) -> InFlightBook:
    return InFlightBook(load_settings(env), clock=lambda: NOW)


def deliver(book: InFlightBook, seq: int, agent: bytes) -> InFlight:
    record = InFlight(f"$JS.ACK.S.C.1.{seq}.{seq}.0.0", seq, False, NOW, NOW)
    book.add(record, agent)
    return record


def test_a_flood_fills_only_its_share_of_the_executing_room_and_stops_the_fetch_at_the_over_share_bound() -> None:
    book = book_of(MAX_IN_FLIGHT="100", BATCH_SIZE="10", MAX_IN_FLIGHT_AGENT_SHARE="0.25",
                   MAX_QUEUED_OVER_SHARE="50")
    flood = [deliver(book, seq, b"mallory") for seq in range(1, 75)]
    assert len(book) == 74 and book.executing == 25 and not book.executing_full and not book.over_share_full
    flood.append(deliver(book, 75, b"mallory"))
    assert book.shares.over_share == 50 and book.over_share_full  # the fetch waits here
    quiet = deliver(book, 100, b"alice")
    assert book.executing == 26
    book.room.clear()
    book.forget(flood[0])  # answered: the flood's next counts in the room, over share has room again
    assert book.executing == 26 and book.shares.over_share == 49 and not book.over_share_full
    assert book.room.is_set()
    book.forget(flood[0])  # settled twice (a hand-back racing an ack): counted once
    book.forget(quiet)
    assert book.executing == 25 and book.shares.over_share == 49


def test_a_move_to_the_long_order_room_frees_the_agents_share_and_the_hand_back_forgets_every_count() -> None:
    book = book_of(MAX_IN_FLIGHT="8", BATCH_SIZE="2", MAX_IN_FLIGHT_AGENT_SHARE="0.5")
    records = [deliver(book, seq, b"mallory") for seq in range(1, 7)]
    assert (book.executing, book.shares.over_share) == (4, 2)
    assert book.to_long_orders(records[0], "mallory") is None
    assert (book.executing, book.shares.over_share, len(book.long_orders)) == (4, 1, 1)
    book.forget(records[0])  # a long order settles: nothing more to give back
    assert (book.executing, book.shares.over_share, len(book)) == (4, 1, 5)
    taken = book.take_all()
    assert len(taken) == 5 and all(record.agent is None for record in taken)
    assert (book.executing, book.shares.in_room, book.shares.over_share) == (0, 0, 0)
    book.forget(taken[1])  # a late settle after the hand-back leaves the counts alone
    assert (book.shares.in_room, book.shares.over_share) == (0, 0)


def test_with_no_over_share_allowed_the_fetch_stops_at_the_first_intent_beyond_a_share() -> None:
    book = book_of(MAX_IN_FLIGHT="8", BATCH_SIZE="2", MAX_IN_FLIGHT_AGENT_SHARE="0.5", MAX_QUEUED_OVER_SHARE="0")
    for seq in range(1, 5):
        deliver(book, seq, b"a")
    assert not book.over_share_full
    deliver(book, 5, b"a")
    assert book.over_share_full


def test_the_share_is_a_part_of_max_in_flight_never_below_one_intent() -> None:
    assert load_settings({"MAX_IN_FLIGHT": "20000"}).in_flight_per_agent == 5000
    assert load_settings({"MAX_IN_FLIGHT": "3", "MAX_IN_FLIGHT_AGENT_SHARE": "0.1"}).in_flight_per_agent == 1
    assert load_settings({"MAX_IN_FLIGHT": "300", "MAX_IN_FLIGHT_AGENT_SHARE": "1"}).in_flight_per_agent == 300
    for bad in ("0", "1.5", "-0.2", "a quarter"):
        with pytest.raises(ConfigError, match="MAX_IN_FLIGHT_AGENT_SHARE"):
            load_settings({"MAX_IN_FLIGHT_AGENT_SHARE": bad})
