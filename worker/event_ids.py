"""The ids of an execution's events: order, fill and reconcile ids in the bodies, Nats-Msg-Id in the headers.

Runs in the pool's worker processes, called by worker.events. Owns how every id is made from the
intent's agent_id and corr_id alone, never from the content, so a redelivered intent's events carry
the ids they had the first time. Pure functions.

Ids (all match ^[a-zA-Z0-9_-]+$ and are at most 128 characters):

    order_id      ord_<corr_id>         or ordx_<blake2b-128 hex of corr_id>
    fill_id       fill_<corr_id>_<k>    or fillx_<hex>_<k>
    reconcile_id  recon_<corr_id>_<k>   or reconx_<hex>_<k>
    Nats-Msg-Id   <agent_id>:<corr_id>:<n>, n the event's place in the order's events, from 1
                  (fill 1, reconcile 1, fill 2, ..., the order update); see msg_id

The readable form is used when it fits in 128 characters; the "x" marks the
hashed form, so a readable id can never equal a hashed one. k counts the
order's fills from 1. A corr_id is its agent's own, so the body ids, made from the corr_id
alone as clients expect, are unique per agent: read them with the body's agent_id.
"""

from __future__ import annotations

import hashlib

MAX_ID_LEN = 128


def short_hash(text: str) -> str:
    """32 hex characters of blake2b over `text`."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def bounded_id(prefix: str, corr_id: str, suffix: str = "") -> str:
    """`prefix_corr_id suffix` when it fits in 128 characters, else `prefixx_<hash> suffix`."""
    readable = f"{prefix}_{corr_id}{suffix}"
    if len(readable) <= MAX_ID_LEN:
        return readable
    return f"{prefix}x_{short_hash(corr_id)}{suffix}"


def order_id(corr_id: str) -> str:
    return bounded_id("ord", corr_id)


def fill_id(corr_id: str, index: int) -> str:
    return bounded_id("fill", corr_id, f"_{index}")


def reconcile_id(corr_id: str, index: int) -> str:
    return bounded_id("recon", corr_id, f"_{index}")


def msg_id(agent_id: str, corr_id: str, place: int) -> str:
    """Nats-Msg-Id: from agent_id, corr_id and the event's place in the order's events, never from its
    content or kind, so every execution of one order claims the same first id whatever it became: the
    supervisor tells a repeat from a redelivery there (supervisor/outbound.py). The schema holds both
    ids to ^[a-zA-Z0-9_-]+$: no ':', so two (agent_id, corr_id) pairs never share an id."""
    return f"{agent_id}:{corr_id}:{place}"
