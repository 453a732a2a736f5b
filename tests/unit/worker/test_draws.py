"""worker.draws: the keyed uniforms of an order, by role."""

from __future__ import annotations

import hashlib

from tests.builders import SEED, make_sim
from worker.draws import DELAY_1, DELAY_2, PARTIAL, RATIO, REMAINDER, SLIP_1, SLIP_2, DrawSource


def test_eight_uniforms_from_blake2b_of_seed_and_corr_id():
    u = DrawSource(SEED).uniforms("abc")
    digest = hashlib.blake2b(SEED + b"|abc", digest_size=64).digest()
    assert u == tuple((int.from_bytes(digest[i:i + 8], "big") >> 11) / 2**53 for i in range(0, 64, 8))
    assert u == make_sim().draws("abc") and all(0 <= x < 1 for x in u)


def test_each_role_reads_its_own_uniform_and_child_fills_their_own_key():
    source = DrawSource(SEED)
    draws, u = source.for_order("abc"), source.uniforms("abc")
    assert (draws.arrival_delay, draws.partial, draws.split_ratio, draws.remainder, draws.remainder_delay) == (
        u[DELAY_1], u[PARTIAL], u[RATIO], u[REMAINDER], u[DELAY_2])
    assert draws.slippage(1) == u[SLIP_1] and draws.slippage(2) == u[SLIP_2]
    digest = hashlib.blake2b(SEED + b"|abc|3", digest_size=64).digest()
    assert draws.slippage(3) == (int.from_bytes(digest[:8], "big") >> 11) / 2**53 == source.child("abc", 3)
    assert len({draws.slippage(k) for k in range(1, 12)}) == 11
