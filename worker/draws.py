"""The random draws of one order: counter-based uniforms keyed by (seed, corr_id).

Runs in the pool's worker processes, used by the execution pipeline (worker.simulator).
Owns determinism of the simulation's randomness. blake2b-512(seed | corr_id) gives
eight uniforms in [0, 1) with fixed roles (delay 1, slippage 1, partial?, split
ratio, remainder fills?, delay 2, slippage 2, queue fill?); child fills
after the second draw their slippage from blake2b(seed | corr_id | k). Nothing is
a global or per-worker generator: the same intent draws the same numbers on any
worker of any instance with the same seed.
"""

from __future__ import annotations

import hashlib
import struct

_UNPACK_8Q = struct.Struct(">8Q").unpack
_INV_2_53 = 1.0 / (1 << 53)

# Roles of the uniforms drawn per intent (indices into Draws.uniforms).
DELAY_1, SLIP_1, PARTIAL, RATIO, REMAINDER, DELAY_2, SLIP_2, QUEUE = range(8)


class DrawSource:
    """The seed's keyed generator; one per worker process."""

    def __init__(self, seed: bytes) -> None:
        self._base = hashlib.blake2b(bytes(seed) + b"|", digest_size=64)

    def uniforms(self, corr_id: str) -> tuple[float, ...]:
        """Eight uniforms in [0, 1) that depend only on the seed and the corr_id."""
        h = self._base.copy()
        h.update(corr_id.encode())
        return tuple((x >> 11) * _INV_2_53 for x in _UNPACK_8Q(h.digest()))

    def child(self, corr_id: str, index: int) -> float:
        """The uniform of child fill `index` (3 and later), keyed by its index."""
        h = self._base.copy()
        h.update(f"{corr_id}|{index}".encode())
        return (int.from_bytes(h.digest()[:8], "big") >> 11) * _INV_2_53

    def for_order(self, corr_id: str) -> Draws:
        return Draws(self, corr_id, self.uniforms(corr_id))


class Draws:
    """One order's draws, by role."""

    __slots__ = ("_source", "_corr_id", "uniforms")

    def __init__(self, source: DrawSource, corr_id: str, uniforms: tuple[float, ...]) -> None:
        self._source = source
        self._corr_id = corr_id
        self.uniforms = uniforms

    @property
    def arrival_delay(self) -> float:
        return self.uniforms[DELAY_1]

    @property
    def partial(self) -> float:
        """Below SIMULATION_PARTIAL_FILL_CHANCE: the first fill is a random partial."""
        return self.uniforms[PARTIAL]

    @property
    def split_ratio(self) -> float:
        return self.uniforms[RATIO]

    @property
    def remainder(self) -> float:
        """At or above REMAINDER_FILL_CHANCE: a random partial's remainder is cancelled."""
        return self.uniforms[REMAINDER]

    @property
    def remainder_delay(self) -> float:
        return self.uniforms[DELAY_2]

    @property
    def queue(self) -> float:
        """Below SIMULATION_QUEUE_FILL_CHANCE: a limit resting behind the touch fills when its side reaches it."""
        return self.uniforms[QUEUE]

    def slippage(self, index: int) -> float:
        """The slippage uniform of fill `index` (1-based)."""
        if index == 1:
            return self.uniforms[SLIP_1]
        if index == 2:
            return self.uniforms[SLIP_2]
        return self._source.child(self._corr_id, index)
