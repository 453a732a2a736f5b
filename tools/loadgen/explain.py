"""Why intents went unanswered, in words: the load generator's diagnosis at the end of a run.

Pure, in the loadgen process. A rejection publishes nothing, so an unanswered
intent is either rejected by the service or not handled yet. This turns what the
run knows (its figures, how it chose its corr_ids, the service's counters and
backlog: service_watch.py) into a few lines naming the likely causes, the way an
engineer at the console would reason about them.
"""

from __future__ import annotations

from typing import Any


def explain_unanswered(results: dict[str, Any], service: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """Lines explaining `results["outstanding"]` (none when nothing is outstanding).

    `run`: run_id, run_id_given (a fixed --run-id), signed (intents carry X-Signature),
    idempotency_ttl_s and replay_window_s (the service's settings as this environment has them)."""
    outstanding = results.get("outstanding") or 0
    if not outstanding:
        return []
    lines = []
    rejected = {kind: int(n) for kind, n in (service.get("rejections_by_type") or {}).items() if n > 0}
    invalid_sent = sum((results.get("rejections_sent_by_type") or {}).values())
    beyond = {kind: n - (results.get("rejections_sent_by_type") or {}).get(kind, 0) for kind, n in rejected.items()}
    beyond = {kind: n for kind, n in beyond.items() if n > 0}
    if service.get("metrics_read") and beyond:
        listed = ", ".join(f"{kind} {n:,}" for kind, n in sorted(beyond.items(), key=lambda kv: -kv[1]))
        lines.append(f"the service rejected more intents than this run spoiled on purpose ({invalid_sent:,}): "
                     f"{listed} (its /metrics, service-wide)")
    pending, ack_pending = service.get("consumer_pending"), service.get("consumer_ack_pending")
    if pending == 0 and ack_pending == 0:
        lines.append(f"the service has taken and acked every stored intent: the {outstanding:,} unanswered ones "
                     "were rejected (a rejection publishes no event)")
    elif service.get("metrics_read") and sum(beyond.values()) >= outstanding and not pending:
        lines.append(f"the service counted {sum(beyond.values()):,} rejections beyond the invalid intents sent: "
                     f"the {outstanding:,} unanswered ones were rejected (a rejection publishes no event)")
    elif pending:
        lines.append(f"the service's consumer still holds {pending:,} intents not taken: is the service running, "
                     "and keeping up?")
    elif ack_pending:
        lines.append(f"the service is still working on {ack_pending:,} intents (taken, not yet acked): "
                     "a longer --drain-timeout may see their answers")
    lines.extend(_causes(beyond if service.get("metrics_read") else None, run))
    if not service.get("metrics_read") and not service.get("consumer_read"):
        lines.append("neither the service's /metrics (--metrics-url) nor its consumer's state could be read: "
                     "the causes above are the likely ones, not confirmed")
    return lines


def _causes(rejected: dict[str, int] | None, run: dict[str, Any]) -> list[str]:
    """The likely causes, the confirmed ones first (rejected: None when the metrics were not read)."""
    causes = []
    ttl = run.get("idempotency_ttl_s")
    if rejected is None or "duplicate" in rejected:
        reuse = (f"this run's fixed --run-id {run.get('run_id')!r} was used before" if run.get("run_id_given")
                 else "another client sent the same corr_ids")
        causes.append(f"duplicate: corr_ids already seen within IDEMPOTENCY_TTL_SEC ({ttl:g} s here) for agent "
                      f"{run.get('agent_id')!r}; {reuse}. Leave --run-id out for a fresh run id"
                      if ttl is not None else "duplicate: corr_ids already seen within IDEMPOTENCY_TTL_SEC")
    if rejected is None or rejected.keys() & {"bad_signature", "unknown_key", "agent_not_owned"}:
        causes.append("bad_signature / unknown_key / agent_not_owned: --hmac-secret, --key-id or --agent-id "
                      "do not match the service's API_KEY_HMAC_SECRET or INTENT_KEYRING_FILE"
                      + ("" if run.get("signed") else " (this run did not sign its intents)"))
    if rejected is None or "stale" in rejected:
        causes.append(f"stale: this machine's clock and the service's differ by more than REPLAY_WINDOW_SEC "
                      f"({run.get('replay_window_s', 300):g} s here)")
    for kind in sorted((rejected or {}).keys() - {"duplicate", "bad_signature", "unknown_key", "agent_not_owned",
                                                    "stale"}):
        causes.append(f"{kind}: see the rejection types in the README (Rejections and error codes)")
    return [f"  likely: {cause}" if rejected is None else f"  cause: {cause}" for cause in causes]


def early_stop(awaiting: int, pending: int | None, ack_pending: int | None, rejected_beyond: int | None,
               readers_drained: bool) -> bool:
    """Stop waiting for answers: the service has taken every stored intent (pending 0) and either acked
    them all (ack_pending 0) or counted at least as many rejections as are awaited beyond the invalid
    intents sent (the rest in hand are other orders, resting ones say), and every answer stored has
    been read: the `awaiting` intents still unanswered never will be."""
    if awaiting <= 0 or not readers_drained or pending != 0:
        return False
    return ack_pending == 0 or (rejected_beyond is not None and rejected_beyond >= awaiting)


def service_rejections(results: dict[str, Any], service: dict[str, Any]) -> int | None:
    """Rejections the service counted beyond the invalid intents this run sent on purpose (None: its
    /metrics were not read). Service-wide: another client's rejections count too."""
    if not service.get("metrics_read"):
        return None
    sent = results.get("rejections_sent_by_type") or {}
    counted = service.get("rejections_by_type") or {}
    return int(sum(max(0, n - sent.get(kind, 0)) for kind, n in counted.items()))
