"""The client's credentials for nats-py's connect: what each setting becomes, and a clear error
(never a terminal prompt) for a certificate or key that cannot be used."""

from __future__ import annotations

import ssl
from pathlib import Path

import nats.errors
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common.config import load_settings
from supervisor.nats_auth import NatsAuthError, connect_options, telling
from tests.integration.nats_credentials import CertificateAuthority


def test_no_settings_no_credentials() -> None:
    assert connect_options(load_settings({})) == {"inbox_prefix": "_INBOX"}


def test_each_setting_becomes_its_connect_option(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    cert, key = ca.client_certificate()
    (tmp_path / "seed").write_text("SU...")
    options = connect_options(load_settings({
        "NATS_NKEY_SEED_FILE": str(tmp_path / "seed"), "NATS_TLS_CA_FILE": str(ca.ca_file),
        "NATS_TLS_CERT_FILE": str(cert), "NATS_TLS_KEY_FILE": str(key), "NATS_INBOX_PREFIX": "_INBOX_sim"}))
    assert options["nkeys_seed"] == str(tmp_path / "seed") and options["inbox_prefix"] == "_INBOX_sim"
    context = options["tls"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname and len(context.get_ca_certs()) == 1
    (tmp_path / "creds").write_text("creds")
    assert connect_options(load_settings({"NATS_CREDS_FILE": str(tmp_path / "creds")}))["user_credentials"] == str(
        tmp_path / "creds")


def test_a_file_that_is_not_pem_names_its_setting(tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("not a certificate")
    with pytest.raises(NatsAuthError, match="^NATS_TLS_CA_FILE"):
        connect_options(load_settings({"NATS_TLS_CA_FILE": str(tmp_path / "junk")}))
    with pytest.raises(NatsAuthError, match="^NATS_TLS_CERT_FILE/NATS_TLS_KEY_FILE"):
        connect_options(load_settings({"NATS_TLS_CERT_FILE": str(tmp_path / "junk"),
                                       "NATS_TLS_KEY_FILE": str(tmp_path / "junk")}))


def test_an_encrypted_key_is_an_error_not_a_prompt(tmp_path: Path) -> None:
    cert, _ = CertificateAuthority(tmp_path).client_certificate()
    key = tmp_path / "encrypted-key.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    with pytest.raises(NatsAuthError, match="^NATS_TLS_KEY_FILE: the key is encrypted"):
        connect_options(load_settings({"NATS_TLS_CERT_FILE": str(cert), "NATS_TLS_KEY_FILE": str(key)}))


def test_the_servers_refusal_is_reported_not_the_broken_pipe_after_it() -> None:
    refusal, reset = nats.errors.AuthorizationError(), BrokenPipeError(32, "Broken pipe")
    assert telling(telling(telling(None, refusal), reset), reset) is refusal
    assert telling(None, reset) is reset  # nothing better to say
    certificate = ssl.SSLCertVerificationError("certificate verify failed")
    assert telling(reset, certificate) is certificate
