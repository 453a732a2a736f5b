"""Send one order intent to a running at-exec-sim and print every event that comes back for it.

Runs as an agent would, in a process of its own beside the service (nats-py is
installed with at-exec-sim): it subscribes to `executions.>`, publishes the
intent on `decisions.order_intent` through JetStream (so it is stored before the
service sees it) and prints each fill, reconcile and order update carrying the
intent's corr_id until the order is finished. docs/getting-started.md shows its
output.

    NATS_URL=nats://127.0.0.1:4222 python examples/send_intent.py            # a market buy of 10,000 EURUSD
    python examples/send_intent.py --limit 0.5                               # a buy limit far below the market
    python examples/send_intent.py --instrument BTC/USD --side sell --quantity 0.5
    API_KEY_HMAC_SECRET=... python examples/send_intent.py                   # signed, when the service checks

Exit codes: 0 the order finished, 1 no complete answer in time, 2 no NATS server
or no stream capturing decisions.order_intent (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import uuid
from datetime import UTC, datetime

import nats
from nats.errors import Error as NatsError
from nats.errors import NoServersError
from nats.js.errors import NoStreamResponseError

# The order is finished once its last fill's reconcile, or its order update, is in.
QUIET_S = 10.0


def order_intent(limit: float | None, instrument: str = "EURUSD", side: str = "buy",
                 quantity: float = 10000, timestamp: str | None = None,
                 corr_id: str | None = None) -> dict[str, object]:
    """A complete decisions.order_intent (schemas/decisions.order_intent.schema.json): every field it defines."""
    body: dict[str, object] = {
        "corr_id": corr_id or f"example-{uuid.uuid4().hex[:12]}",
        "strategy_id": "momentum_breakout_v1",
        "agent_id": "agent_example_001",
        "timestamp": timestamp or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "instrument": instrument,
        "side": side,
        "order_type": "market" if limit is None else "limit",
        "quantity": quantity,
        "confidence": 0.85,
        "reasoning": "Strong bullish momentum detected with volume confirmation",
        "risk_score": 3.5,
        "signal_refs": ["sig_eurusd_mom_001"],
        "metadata": {"time_in_force": "IOC"},
    }
    if limit is not None:
        body["price"] = limit
    return body


def finished(event: dict[str, object], subject: str, quantity: float, filled: list[float]) -> bool:
    """True once this event is the order's last: an order update, or the reconcile of the fill completing it."""
    if subject.endswith("order_update"):
        return True
    if subject.endswith("fill"):
        filled[0] = float(event.get("metadata", {}).get("filled_quantity_total", 0))  # type: ignore[union-attr]
        return False
    return subject.endswith("reconcile") and filled[0] >= quantity


async def send(url: str, intent: dict[str, object], secret: str, wait_s: float = QUIET_S) -> int:
    async def quiet(exc: Exception) -> None:  # the failure is reported once, below
        pass

    try:
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=1, error_cb=quiet,
                                inbox_prefix=os.environ.get("NATS_INBOX_PREFIX", "_INBOX"))
    except (NoServersError, OSError, NatsError) as exc:
        print(f"cannot connect to NATS at {url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 2
    done = asyncio.Event()
    filled = [0.0]

    async def on_event(msg: nats.aio.msg.Msg) -> None:
        if (msg.headers or {}).get("corr_id") != intent["corr_id"]:
            return
        event = json.loads(msg.data)
        print(f"--- {msg.subject}\n{json.dumps(event, indent=2)}")
        if finished(event, msg.subject, float(intent["quantity"]), filled):  # type: ignore[arg-type]
            done.set()

    await nc.subscribe("executions.>", cb=on_event)
    payload = json.dumps(intent).encode()
    headers = {"X-Signature": "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()} if secret else None
    print(f"--- decisions.order_intent\n{json.dumps(intent, indent=2)}")
    try:
        await nc.jetstream().publish("decisions.order_intent", payload, headers=headers)
        await asyncio.wait_for(done.wait(), wait_s)
    except NoStreamResponseError:
        print("no stream yet: is the service running and healthy? (it creates the stream at start)",
              file=sys.stderr)
        return 2
    except TimeoutError:
        print(f"no complete answer within {wait_s:g} s (is at-exec-sim running against {url}?)", file=sys.stderr)
        return 1
    finally:
        await nc.drain()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
                        help="the NATS server the service reads from ($NATS_URL when set)")
    parser.add_argument("--instrument", default="EURUSD", help="the instrument to trade")
    parser.add_argument("--side", choices=("buy", "sell"), default="buy", help="the order's side")
    parser.add_argument("--quantity", type=float, default=10000, help="the order's quantity")
    parser.add_argument("--limit", type=float, help="send a limit order at this price instead of a market order")
    parser.add_argument("--timestamp", help="the intent's timestamp, RFC 3339 (default: now; another time is "
                        "refused as stale unless SIMULATION_CLOCK=virtual or REPLAY_WINDOW_SEC=0)")
    parser.add_argument("--corr-id", help="the intent's corr_id (default: a new one, example-<12 hex digits>)")
    parser.add_argument("--wait", type=float, default=QUIET_S, help="seconds to wait for the order to finish")
    args = parser.parse_args()
    quantity = int(args.quantity) if float(args.quantity).is_integer() else args.quantity
    intent = order_intent(args.limit, args.instrument, args.side, quantity, args.timestamp, args.corr_id)
    return asyncio.run(send(args.url, intent, os.environ.get("API_KEY_HMAC_SECRET", ""), args.wait))


if __name__ == "__main__":
    sys.exit(main())
