"""`at-exec-sim loadgen` and `replay` prove themselves to NATS as the service does.

One nats-server for the module requires both an NKey user and mutual TLS, with
credentials made in the test (tests/integration/nats_credentials.py). The tools
run as users run them (the console script) with the service's own NATS_* settings:
with the right ones they do their work; with a wrong one they exit 3 with one
line saying why (the server's refusal, or the setting that cannot be used), no
traceback.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nkeys
import orjson
import pytest

from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats

from .conftest import ServiceProcess, Topology, run_async
from .nats_credentials import CertificateAuthority, NKey

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "at-exec-sim")


@dataclass(frozen=True)
class Guarded:
    """The server and what a client needs to reach it: the service's NATS_* settings."""

    server: EmbeddedNats
    env: dict[str, str]
    workdir: Path


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    workdir = tmp_path_factory.mktemp("nats-guarded")
    ca = CertificateAuthority(workdir)
    server_cert, server_key = ca.server_certificate()
    client_cert, client_key = ca.client_certificate()
    user = NKey(nkeys.PREFIX_BYTE_USER)
    seed_file = workdir / "tools.nk"
    seed_file.write_bytes(user.seed)
    config = workdir / "nats.conf"
    config.write_text(
        f'tls {{\n  cert_file: "{server_cert}"\n  key_file: "{server_key}"\n  ca_file: "{ca.ca_file}"\n'
        f"  verify: true\n}}\nauthorization {{\n  users: [{{nkey: {user.public}}}]\n}}\n"
    )
    server = EmbeddedNats(workdir / "store", config_file=config).start()
    env = {"NATS_URL": server.url, "NATS_CONNECT_TIMEOUT_SEC": "3", "NATS_NKEY_SEED_FILE": str(seed_file),
           "NATS_TLS_CA_FILE": str(ca.ca_file), "NATS_TLS_CERT_FILE": str(client_cert),
           "NATS_TLS_KEY_FILE": str(client_key)}
    yield Guarded(server, env, workdir)
    server.stop()


def tool(command: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, command, *args], env={**os.environ, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


async def store_intents(env: dict[str, str], topology: Topology, corr_ids: list[str]) -> None:
    """The stream as the service makes it, and the intents in it, published with the same credentials."""
    context = ssl.create_default_context(cafile=env["NATS_TLS_CA_FILE"])
    context.load_cert_chain(env["NATS_TLS_CERT_FILE"], env["NATS_TLS_KEY_FILE"])
    nc = await nats.connect(env["NATS_URL"], nkeys_seed=env["NATS_NKEY_SEED_FILE"], tls=context)
    try:
        js = nc.jetstream()
        await js.add_stream(name=topology.stream, subjects=[topology.intent_subject, topology.output_filter])
        for corr_id in corr_ids:
            await js.publish(topology.intent_subject, si.encode(si.intent(corr_id)), timeout=5)
    finally:
        await nc.close()


def test_loadgen_with_the_services_credentials_is_answered(
    guarded: Guarded, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(**guarded.env)
    result = tool("loadgen", service.env, "--count", "40", "--rate", "0", "--quiet", "--drain-timeout", "20",
                  "--json", str(guarded.workdir / "loadgen.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    figures = orjson.loads((guarded.workdir / "loadgen.json").read_bytes())["results"]
    assert figures["answered"] == 40 and figures["outstanding"] == 0
    assert service.stop() == 0


def test_replay_with_the_services_credentials_reads_the_stream(guarded: Guarded, topology: Topology) -> None:
    corr_ids = [f"replay-auth-{n}" for n in range(5)]
    run_async(store_intents(guarded.env, topology, corr_ids))
    result = tool("replay", {**guarded.env, **topology.env(), "SIMULATION_SEED": "tools-auth"})
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert {line["corr_id"] for line in lines if line["kind"] == "fill"} == set(corr_ids)


def wrong_seed(guarded: Guarded) -> dict[str, str]:
    stranger = guarded.workdir / "stranger.nk"
    stranger.write_bytes(NKey(nkeys.PREFIX_BYTE_USER).seed)
    return {"NATS_NKEY_SEED_FILE": str(stranger)}


def unusable_certificate(guarded: Guarded) -> dict[str, str]:
    junk = guarded.workdir / "junk.pem"
    junk.write_text("not a certificate\n")
    return {"NATS_TLS_CERT_FILE": str(junk)}


@pytest.mark.parametrize("command", ["loadgen", "replay"])
@pytest.mark.parametrize(("wrong", "reason"), [
    (wrong_seed, "authorization violation"),
    (unusable_certificate, "nats_tls_cert_file/nats_tls_key_file: not a pem certificate and its key"),
])
def test_wrong_credentials_are_one_line_and_exit_3(
    guarded: Guarded, topology: Topology, command: str, wrong: Callable[[Guarded], dict[str, str]], reason: str
) -> None:
    result = tool(command, {**guarded.env, **topology.env(), **wrong(guarded)}, "--count", "1", "--quiet") \
        if command == "loadgen" else tool(command, {**guarded.env, **topology.env(), **wrong(guarded)})
    said = result.stdout if command == "loadgen" else result.stderr  # loadgen's console is stdout
    assert result.returncode == 3, said
    assert said.count("\n") == 1 and reason in said.lower(), said
    assert "Traceback" not in result.stdout + result.stderr
