"""Credentials made in the test: a TLS certificate authority and its certificates, NKey users,
and an operator -> account -> user JWT chain with its creds file.

Runs in the pytest process of the NATS security tests. The certificates come from the
`cryptography` package (the dev extra); the NKeys and JWTs from `nkeys` (nats-py's nkeys
extra), signed the way the NATS JWT library signs them: base64url(header).base64url(claims),
Ed25519 by the issuer's NKey, so a real nats-server in operator mode verifies the chain.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import time
from pathlib import Path
from typing import Any

import nkeys
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CertificateAuthority:
    """A throwaway CA whose certificates are written as PEM files into `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "at-exec-sim test CA")])
        self._name = name
        self._cert = (
            self._builder(name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = self._write("ca.pem", self._cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self._name).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    def issue(self, name: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
        """A certificate for 127.0.0.1 and localhost with `usage` (server or client auth): (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            self._builder(subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return (self._write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM)),
                self._write(f"{name}-key.pem", key_pem))

    def server_certificate(self) -> tuple[Path, Path]:
        return self.issue("server", ExtendedKeyUsageOID.SERVER_AUTH)

    def client_certificate(self) -> tuple[Path, Path]:
        return self.issue("client", ExtendedKeyUsageOID.CLIENT_AUTH)


class NKey:
    """A fresh NKey of one role (nkeys.PREFIX_BYTE_USER, _ACCOUNT, _OPERATOR)."""

    def __init__(self, role: int) -> None:
        self.seed = nkeys.encode_seed(os.urandom(32), role)
        self._pair = nkeys.from_seed(bytearray(self.seed))
        self.public = self._pair.public_key.decode()

    def sign(self, data: bytes) -> bytes:
        return bytes(self._pair.sign(data))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(issuer: NKey, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A NATS v2 JWT for `subject`, signed by `issuer`."""
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject,
                              "nats": {**nats, "version": 2}}
    claims["jti"] = base64.b32encode(hashlib.sha256(orjson.dumps(claims)).digest()).decode().rstrip("=")
    signed = f"{_b64(orjson.dumps({'typ': 'JWT', 'alg': 'ed25519-nkey'}))}.{_b64(orjson.dumps(claims))}"
    return f"{signed}.{_b64(issuer.sign(signed.encode()))}"


UNLIMITED = -1
ACCOUNT_LIMITS = {"subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED, "imports": UNLIMITED,
                  "exports": UNLIMITED, "wildcards": True, "conn": UNLIMITED, "leaf": UNLIMITED,
                  # JetStream is on for an account whose storage limits are not 0.
                  "mem_storage": UNLIMITED, "disk_storage": UNLIMITED, "streams": UNLIMITED, "consumer": UNLIMITED}


def operator_mode(directory: Path) -> tuple[str, Path]:
    """An operator, an account with JetStream and a user: (server configuration, user's creds file).
    JetStream in operator mode needs a system account too."""
    operator, account, user = NKey(nkeys.PREFIX_BYTE_OPERATOR), NKey(nkeys.PREFIX_BYTE_ACCOUNT), NKey(nkeys.PREFIX_BYTE_USER)
    system = NKey(nkeys.PREFIX_BYTE_ACCOUNT)
    operator_jwt = jwt(operator, operator.public, "test-operator", {"type": "operator", "system_account": system.public})
    system_jwt = jwt(operator, system.public, "SYS", {"type": "account"})
    account_jwt = jwt(operator, account.public, "TRADING", {"type": "account", "limits": ACCOUNT_LIMITS})
    user_jwt = jwt(account, user.public, "exec-sim", {"type": "user", "pub": {}, "sub": {},
                                                      "subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED})
    creds = directory / "exec-sim.creds"
    creds.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n"
    )
    config = (f'operator: "{operator_jwt}"\nsystem_account: {system.public}\nresolver: MEMORY\n'
              f'resolver_preload: {{\n  {system.public}: "{system_jwt}"\n  {account.public}: "{account_jwt}"\n}}\n')
    return config, creds
