"""Memory of the supervisor's corr_id window: bytes per remembered (agent_id, corr_id).

Runs on its own, in one process (no service, no NATS): fills a
supervisor.idempotency.CorrIdWindow to IDEMPOTENCY_MAX_CORR_IDS entries, the
way the collect step claims them, and reports what tracemalloc saw allocated
per entry, the key included (the window keeps nothing else of an intent once
it is settled). The per-entry figure of IDEMPOTENCY_MAX_CORR_IDS in
docs/configuration.md and the window's share of the supervisor's memory come
from here.

    python bench/corr_id_window.py                          # 100,000 entries, 36-char corr_ids, 8-char agent_ids
    python bench/corr_id_window.py --corr-id-chars 128 --agents 1000
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from supervisor.idempotency import CorrIdWindow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000, help="IDEMPOTENCY_MAX_CORR_IDS")
    parser.add_argument("--corr-id-chars", type=int, default=36)
    parser.add_argument("--agents", type=int, default=50, help="distinct agent_ids, named agent_NN...")
    args = parser.parse_args()
    # Built before tracing: in the service these strings arrive with each Execution and, but for
    # the window's key, are freed once the intent is settled.
    claims = [(f"agent_{n % args.agents:02d}", f"{n:0{args.corr_id_chars}d}") for n in range(args.entries)]
    tracemalloc.start()
    window = CorrIdWindow(ttl_s=3600, max_entries=args.entries)
    for seq, (agent_id, corr_id) in enumerate(claims):
        window.claim(agent_id, corr_id, seq, now=1.0)
    allocated, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(window) == args.entries
    print(f"{args.entries:,} entries ({args.corr_id_chars}-char corr_ids, {args.agents} agents): "
          f"{allocated / args.entries:.0f} bytes each, {allocated / 1e6:.1f} MB in all")


if __name__ == "__main__":
    main()
