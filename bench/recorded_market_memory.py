"""What MARKET_DATA=file costs each worker in memory: the tapes it is spawned with, per million records.

Run: python bench/recorded_market_memory.py [records]. It pickles Settings holding one
instrument's tape as the pool's spawn does, then a fresh process (as a worker is) measures
the resident size added by unpickling it and by building the QuoteTape over it (the mid
column and the block ranges; the other columns are views of the bytes, not copies). Figures in docs/market-data.md.
"""

from __future__ import annotations

import dataclasses
import pickle
import resource
import subprocess
import sys
import tempfile

import numpy as np

from common.config import load_settings
from common.market_files import RecordedMarketData
from worker.quote_tape import QuoteTape, tape_bytes, tape_from_bytes


def resident_mb() -> float:
    """This process's resident size now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def main(records: int) -> None:
    times = np.arange(records, dtype=np.int64) * 100
    bid = np.abs(100 + np.cumsum(np.random.default_rng(1).normal(0, 0.01, records))) + 1
    ones = np.ones(records)
    raw = tape_bytes(QuoteTape(times, bid, bid + 0.01, ones, ones, np.zeros(records)))
    settings = dataclasses.replace(load_settings({}), recorded_market=RecordedMarketData((("X", raw),), "quotes", ()))
    with tempfile.NamedTemporaryFile(suffix=".pickle") as spawned:
        spawned.write(pickle.dumps(settings))
        spawned.flush()
        print(f"{records:,} records: {spawned.tell() / 1e6:.1f} MB pickled into each worker")
        subprocess.run([sys.executable, __file__, "--receive", spawned.name], check=True)


def receive(path: str) -> None:
    """In a fresh process, as a spawned worker: the settings unpickled, then the tape built."""
    start = resident_mb()
    with open(path, "rb") as f:
        received = pickle.load(f)
    unpickled = resident_mb()
    tape = tape_from_bytes(received.recorded_market.tapes[0][1], 60_000)
    built = resident_mb()
    print(f"a worker holds +{unpickled - start:.1f} MB received and +{built - unpickled:.1f} MB "
          f"for the tape of {len(tape):,} records (the mid column and the block ranges)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receive"]:
        receive(sys.argv[2])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
