"""The service authenticates to NATS with each kind of credential a real nats-server takes.

Each test starts a nats-server configured for one mechanism, with credentials
made in the test (tests/integration/nats_credentials.py): TLS verified against
NATS_TLS_CA_FILE, mutual TLS (NATS_TLS_CERT_FILE + NATS_TLS_KEY_FILE), an NKey
user (NATS_NKEY_SEED_FILE) and an operator-mode user JWT (NATS_CREDS_FILE). The
service without the credential is refused and exits 1 after
NATS_CONNECT_TIMEOUT_SEC; with it, it starts and fills an intent.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nkeys
import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats

from .conftest import ServiceProcess, Topology, run_async
from .nats_credentials import CertificateAuthority, NKey, operator_mode

pytestmark = pytest.mark.integration


@pytest.fixture
def configured_nats(tmp_path: Path) -> Iterator[Callable[[str], EmbeddedNats]]:
    servers: list[EmbeddedNats] = []

    def start(config: str) -> EmbeddedNats:
        path = tmp_path / f"nats-{len(servers)}.conf"
        path.write_text(config)
        server = EmbeddedNats(tmp_path / f"nats-{len(servers)}", config_file=path)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def refused(start_service: Callable[..., ServiceProcess], **env: str) -> str:
    """Start the service expecting NATS to refuse it: exit 1 once the connect timeout has passed; its log."""
    with pytest.raises(AssertionError, match="service exited with 1") as failure:
        start_service(NATS_CONNECT_TIMEOUT_SEC="2", **env)
    return str(failure.value)


async def fill_one(url: str, topology: Topology, corr_id: str, **credentials: Any) -> dict[str, Any]:
    """Publish one intent as a client with `credentials` and return its final stored fill."""
    nc = await nats.connect(url, **credentials)
    try:
        js = nc.jetstream()
        await js.publish(topology.intent_subject, si.encode(si.intent(corr_id)), timeout=5)
        sub = await js.pull_subscribe(topology.fill_subject, stream=topology.stream, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30))
        while True:
            for msg in await sub.fetch(10, timeout=20):
                body = orjson.loads(msg.data)
                if msg.headers["corr_id"] == corr_id and body["fill_status"] != "partial":
                    return body
    finally:
        await nc.close()


def client_tls(ca: CertificateAuthority, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def tls_block(ca: CertificateAuthority, verify: bool) -> str:
    cert, key = ca.server_certificate()
    return f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n  ca_file: "{ca.ca_file}"\n  verify: {str(verify).lower()}\n}}\n'


def test_tls_server_verified_against_the_ca_file(
    configured_nats: Callable[[str], EmbeddedNats], start_service: Callable[..., ServiceProcess],
    topology: Topology, tmp_path: Path,
) -> None:
    ca = CertificateAuthority(tmp_path)
    server = configured_nats(tls_block(ca, verify=False))
    url = f"tls://127.0.0.1:{server.port}"
    # The system's CAs do not know the server's: refused, as a server in the middle would be.
    assert "certificate verify failed" in refused(start_service, NATS_URL=url).lower()
    start_service(NATS_URL=url, NATS_TLS_CA_FILE=str(ca.ca_file))
    fill = run_async(fill_one(url, topology, "tls-1", tls=client_tls(ca)))
    assert fill["fill_status"] == "full"


def test_mutual_tls_needs_the_client_certificate(
    configured_nats: Callable[[str], EmbeddedNats], start_service: Callable[..., ServiceProcess],
    topology: Topology, tmp_path: Path,
) -> None:
    ca = CertificateAuthority(tmp_path)
    server = configured_nats(tls_block(ca, verify=True))
    cert, key = ca.client_certificate()
    # Refused for the missing certificate, not for anything else that stops a connection.
    assert "certificate required" in refused(start_service, NATS_URL=server.url, NATS_TLS_CA_FILE=str(ca.ca_file))
    start_service(NATS_URL=server.url, NATS_TLS_CA_FILE=str(ca.ca_file),
                  NATS_TLS_CERT_FILE=str(cert), NATS_TLS_KEY_FILE=str(key))
    fill = run_async(fill_one(server.url, topology, "mtls-1", tls=client_tls(ca, cert, key)))
    assert fill["fill_status"] == "full"


def test_nkey_user_signs_with_its_seed_file(
    configured_nats: Callable[[str], EmbeddedNats], start_service: Callable[..., ServiceProcess],
    topology: Topology, tmp_path: Path,
) -> None:
    user = NKey(nkeys.PREFIX_BYTE_USER)
    seed_file = tmp_path / "exec-sim.nk"
    seed_file.write_bytes(user.seed)
    server = configured_nats(f"authorization {{\n  users: [{{nkey: {user.public}}}]\n}}\n")
    assert "authorization violation" in refused(start_service, NATS_URL=server.url).lower()
    service = start_service(NATS_URL=server.url, NATS_NKEY_SEED_FILE=str(seed_file))
    fill = run_async(fill_one(server.url, topology, "nkey-1", nkeys_seed=str(seed_file)))
    assert fill["fill_status"] == "full"
    assert user.seed.decode() not in service.log()


def test_creds_file_of_an_operator_mode_user(
    configured_nats: Callable[[str], EmbeddedNats], start_service: Callable[..., ServiceProcess],
    topology: Topology, tmp_path: Path,
) -> None:
    config, creds = operator_mode(tmp_path)
    server = configured_nats(config)
    assert "authorization violation" in refused(start_service, NATS_URL=server.url).lower()
    service = start_service(NATS_URL=server.url, NATS_CREDS_FILE=str(creds))
    fill = run_async(fill_one(server.url, topology, "creds-1", user_credentials=str(creds)))
    assert fill["fill_status"] == "full"
    assert "SEED" not in service.log() and "eyJ" not in service.log()  # neither the seed nor the JWT
