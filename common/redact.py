"""Credentials out of what the service prints and logs.

Runs in whichever process prints or logs a server address: the supervisor (its
reconnect log line, `at-exec-sim config`) and the tools beside it (their error
lines). Owns one rule: the user information of a URL (`user:password@` or a
token `token@`) is shown as `***@`. API_KEY_HMAC_SECRET never needs it: the
Settings repr leaves that field out. Nor do the NATS credential settings
(NATS_CREDS_FILE, NATS_NKEY_SEED_FILE, NATS_TLS_*): Settings hold their paths,
which are shown, and their secret contents are read only where the client
connects (supervisor/nats_auth.py, nats-py), never into Settings or a log.
"""

from __future__ import annotations

REDACTED = "***"


def redacted_url(url: str) -> str:
    """`url` with everything before its host's last "@" shown as ***: nats://***@host:4222.

    Split by hand rather than with urllib.parse: a password with a raw "/", "?"
    or "#" ends urlsplit's netloc early and would be printed as the path. Here
    everything up to the last "@" counts as user information, so a malformed
    URL errs towards hiding too much, never too little. A URL without "@" is
    returned unchanged.
    """
    scheme, separator, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" not in rest:
        return url
    host = rest.rpartition("@")[2]
    return f"{scheme}{separator}{REDACTED}@{host}"


def redacted_urls(urls: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(redacted_url(url) for url in urls)
