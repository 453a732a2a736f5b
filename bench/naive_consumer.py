"""The reference the service is measured against: the obvious single-process consumer.

Fetch one intent, validate it with jsonschema (formats on), publish a fill and
a reconcile with two awaited JetStream publishes, ack, repeat. No simulation
worth the name: it only shows what one-at-a-time handling costs.
"""

from __future__ import annotations

import nats
import orjson
from jsonschema import Draft202012Validator

from common.contracts import ORDER_INTENT, load_schema


async def drain(url: str, stream: str, intent_subject: str, fill_subject: str, reconcile_subject: str,
                expected: int) -> int:
    """Consume `expected` intents; return how many were handled."""
    validator = Draft202012Validator(load_schema(ORDER_INTENT), format_checker=Draft202012Validator.FORMAT_CHECKER)
    nc = await nats.connect(url.split(","))  # one server, or a cluster's comma-separated urls
    js = nc.jetstream()
    sub = await js.pull_subscribe(intent_subject, durable="naive", stream=stream)
    handled = 0
    try:
        while handled < expected:
            try:
                (msg,) = await sub.fetch(1, timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            intent = orjson.loads(msg.data)
            if validator.is_valid(intent):
                fill = {"corr_id": intent["corr_id"], "fill_quantity": intent["quantity"], "fill_status": "full"}
                await js.publish(fill_subject, orjson.dumps(fill), headers={"Nats-Msg-Id": f"{intent['corr_id']}:f"})
                await js.publish(reconcile_subject, orjson.dumps({"fills_processed": [intent["corr_id"]]}),
                                 headers={"Nats-Msg-Id": f"{intent['corr_id']}:r"})
            await msg.ack()
            handled += 1
    finally:
        await nc.close()
    return handled
