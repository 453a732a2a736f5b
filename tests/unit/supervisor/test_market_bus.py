"""supervisor/market_bus.py without NATS: intents found ready in one turn of the event loop go back together."""

from __future__ import annotations

import asyncio
import time

from common.config import load_settings
from common.messages import AwaitingMarket, RawIntent
from common.metrics import MetricTally
from supervisor.market_bus import BusMarket


def test_a_batch_of_ready_intents_goes_back_as_one_call_and_handed_back_ones_are_left_out():
    sent: list[list[int]] = []

    async def scenario() -> None:
        settings = load_settings({"MARKET_DATA": "bus"})
        # No NATS and no metric files: neither is reached before a market message comes.
        market = BusMarket(settings, None, None, MetricTally(),
                           lambda raws: sent.append([r.stream_seq for r in raws]), lambda seq: seq != 2)
        # Now: an instant older than where the reader starts would have its history read first.
        t0 = int(time.time() * 1000)
        market.waits.advance(t0 + 1_000)  # the watermark is past every intent below
        for seq in (1, 2, 3):
            market.awaiting(AwaitingMarket(seq, RawIntent(seq, b"{}", None, t0), "EURUSD", t0 + seq, None))
        assert sent == []  # nothing until the turn ends
        await asyncio.sleep(0)
        assert sent == [[1, 3]]

    asyncio.run(scenario())
