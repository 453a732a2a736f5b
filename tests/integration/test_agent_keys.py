"""Per-agent keys against a real nats-server: a key signs only for its own agents, and the keyring
file is rotated under a running service."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from common.error_codes import KEY_UNKNOWN, SIGNER_NOT_OWNER
from tools import sample_intents as si

from .conftest import publish_intents, read_outputs, run_async

pytestmark = pytest.mark.integration

SECRET_A = "alpha-secret-0123456789"
SECRET_B = "bravo-secret-0123456789"
SECRET_A2 = "alpha-rotated-0123456789"


def keyring(path: Path, keys: dict[str, tuple[str, list[str]]]) -> None:
    """Write the keyring as an operator should: a new file renamed over the old one."""
    text = "".join(f'[keys.{key_id}]\nsecret = "{secret}"\nagents = {agents!r}\n\n'.replace("'", '"')
                   for key_id, (secret, agents) in keys.items())
    draft = path.with_suffix(".new")
    draft.write_text(text)
    draft.replace(path)


def signed(corr_id: str, agent_id: str, secret: str, key_id: str | None) -> tuple[bytes, dict[str, str]]:
    body = si.encode(si.intent(corr_id, agent_id=agent_id))
    return body, si.signed_headers(secret.encode(), body, key_id)


def publish(url: str, subject: str, intents: list[tuple[bytes, dict[str, str]]]) -> None:
    run_async(publish_intents(url, subject, [b for b, _ in intents], [h for _, h in intents]))


def rejections(service, error_code: str) -> list[str]:
    return [line.get("corr_id") for line in service.log_lines()
            if line.get("message") == "intent rejected" and line.get("error_code") == error_code]


def wait_for(condition, what: str, service, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not seen within {timeout_s:g} s:\n{service.log()[-4000:]}"
        time.sleep(0.05)


def test_agent_a_key_cannot_sign_for_agent_b_and_its_own_intent_fills(nats_server, topology, start_service, tmp_path):
    path = tmp_path / "keyring.toml"
    keyring(path, {"desk-a": (SECRET_A, ["agent_a"]), "desk-b": (SECRET_B, ["agent_b"])})
    # API_KEY_HMAC_SECRET is A's secret, as it is today when every agent holds the one shared
    # secret: without the keyring's ownership check, A's signature makes B's agent_id pass.
    service = start_service(INTENT_KEYRING_FILE=str(path), API_KEY_HMAC_SECRET=SECRET_A)
    publish(nats_server.url, topology.intent_subject, [
        signed("a-own", "agent_a", SECRET_A, "desk-a"),
        signed("b-own", "agent_b", SECRET_B, "desk-b"),
        signed("a-as-b", "agent_b", SECRET_A, "desk-a"),   # impersonation
        signed("a-no-key", "agent_b", SECRET_A, None),     # impersonation with the shared secret alone
        signed("a-unknown", "agent_a", SECRET_A, "desk-x"),
    ])
    msgs = run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"a-own", "b-own"}))
    answered = {m.headers["corr_id"] for m in msgs}
    assert answered == {"a-own", "b-own"}, answered
    labels = {"type": "agent_not_owned"}
    assert service.metric("exec_sim_validation_errors_total", labels, expect=1) == 1
    assert service.metric("exec_sim_validation_errors_total", {"type": "unknown_key"}, expect=2) == 2
    wait_for(lambda: len(rejections(service, KEY_UNKNOWN)) == 2, "two unknown-key log lines", service)
    assert rejections(service, SIGNER_NOT_OWNER) == ["a-as-b"]
    assert sorted(rejections(service, KEY_UNKNOWN)) == ["a-no-key", "a-unknown"]
    assert SECRET_A not in service.log() and SECRET_B not in service.log()
    assert service.stop() == 0


def test_the_keyring_is_rotated_without_a_restart(nats_server, topology, start_service, tmp_path):
    path = tmp_path / "keyring.toml"
    keyring(path, {"desk-a": (SECRET_A, ["agent_a"])})
    service = start_service(INTENT_KEYRING_FILE=str(path))
    publish(nats_server.url, topology.intent_subject, [signed("before", "agent_a", SECRET_A, "desk-a")])
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"before"}))

    # desk-a retired, desk-a-2 issued; a broken version in between changes nothing.
    path.with_suffix(".new").write_text("[keys.broken\n")
    path.with_suffix(".new").replace(path)
    wait_for(lambda: service.metric("exec_sim_keyring_reloads_total", {"result": "failed"}) == 1,
             "the failed reload", service)
    publish(nats_server.url, topology.intent_subject, [signed("kept", "agent_a", SECRET_A, "desk-a")])
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"before", "kept"}))
    keyring(path, {"desk-a-2": (SECRET_A2, ["agent_a"])})
    wait_for(lambda: any(line.get("message") == "keyring reloaded" for line in service.log_lines()),
             "the keyring reload", service)

    publish(nats_server.url, topology.intent_subject, [
        signed("old-key", "agent_a", SECRET_A, "desk-a"),
        signed("new-key", "agent_a", SECRET_A2, "desk-a-2"),
    ])
    msgs = run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"before", "kept", "new-key"}))
    assert {m.headers["corr_id"] for m in msgs} == {"before", "kept", "new-key"}
    wait_for(lambda: rejections(service, KEY_UNKNOWN) == ["old-key"], "the old key's rejection", service)
    assert service.metric("exec_sim_keyring_reloads_total", {"result": "loaded"}) == 1
    assert service.stop() == 0
