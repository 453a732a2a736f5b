"""How the service proves itself to NATS: the client's credentials and TLS context.

Runs in the supervisor process, once, before the first connect
(supervisor/connection.py passes the result to nats-py's connect). Owns the
mapping from the NATS_* authentication settings to nats-py's options:

  NATS_CREDS_FILE       user_credentials: a user JWT and its NKey seed (operator mode)
  NATS_NKEY_SEED_FILE   nkeys_seed: an NKey user's seed; the server's nonce is signed with it
  NATS_TLS_CA_FILE      tls: the server's certificate is verified against this CA only
  NATS_TLS_CERT_FILE    tls: the client certificate (mutual TLS), with NATS_TLS_KEY_FILE
  NATS_INBOX_PREFIX     inbox_prefix: reply subjects the server can reserve to this user

telling() picks, among a failing connect's errors, the one that says why (the
service and the tools report it).

Settings hold the paths; the secrets are read here (the TLS context) or by
nats-py at each connect (the seed and the creds file, so a rotated file is
picked up on the next reconnect). Nothing read here is logged. User:password
and tokens stay in NATS_URL, as nats-py takes them.
"""

from __future__ import annotations

import ssl
from typing import Any

from common.config import Settings


class NatsAuthError(ValueError):
    """A certificate, key or CA file that exists but cannot be used; names the setting."""


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key: a hang at start.
    raise NatsAuthError("NATS_TLS_KEY_FILE: the key is encrypted; give an unencrypted key file")


def _why(exc: ssl.SSLError) -> str:
    # OpenSSL names a reason for some failures only (a file that is not PEM at all has none).
    return f" ({exc.reason})" if exc.reason else ""


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A context verifying the server (against NATS_TLS_CA_FILE, else the system's CAs) and
    presenting the client certificate when one is set; None when no TLS setting is given
    (a tls:// URL then uses the system's CAs, as nats-py does by default)."""
    if not (settings.nats_tls_ca_file or settings.nats_tls_cert_file):
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.nats_tls_ca_file or None)
    except ssl.SSLError as exc:
        raise NatsAuthError(f"NATS_TLS_CA_FILE: not a PEM certificate file{_why(exc)}") from None
    if settings.nats_tls_cert_file:
        try:
            context.load_cert_chain(settings.nats_tls_cert_file, settings.nats_tls_key_file, password=_no_passphrase)
        except ssl.SSLError as exc:
            raise NatsAuthError(
                f"NATS_TLS_CERT_FILE/NATS_TLS_KEY_FILE: not a PEM certificate and its key{_why(exc)}"
            ) from None
    return context


def connect_options(settings: Settings) -> dict[str, Any]:
    """nats-py connect() keyword arguments for the authentication settings that are set."""
    options: dict[str, Any] = {"inbox_prefix": settings.nats_inbox_prefix}
    if settings.nats_creds_file:
        options["user_credentials"] = settings.nats_creds_file
    if settings.nats_nkey_seed_file:
        options["nkeys_seed"] = settings.nats_nkey_seed_file
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options


def telling(kept: Exception | None, new: Exception) -> Exception:
    """Of a failing connect's errors, the one to report: a refusal (authorization, certificate)
    says more than the reset of the socket that follows it, so a ConnectionError replaces nothing."""
    return new if kept is None or not isinstance(new, ConnectionError) else kept
