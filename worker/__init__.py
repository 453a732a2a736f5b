"""Pure simulation code run in the pool's worker processes: bytes in, results out (no NATS, no asyncio)."""
