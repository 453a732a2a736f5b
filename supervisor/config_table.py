"""`at-exec-sim config`: every setting with its value, its default and where the value came from.

Runs in the CLI process, before and instead of the service; prints and exits.
The rows are the settings definition itself (common.config's variable -> field
map, in its order), so a setting added there is a row here with nothing else
to change. Values are spelled as the environment variable takes them, never as
a Python repr. Secrets never print: a field Settings keeps out of its repr
(repr=False: API_KEY_HMAC_SECRET) shows "set" or "unset", and the user
information of NATS_URL's URLs shows as *** (common.redact).
Plain text, not rich: the service image does not install the tools extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

import orjson

from common.config import _VARIABLES, Settings, load_settings
from common.redact import redacted_urls

COLUMNS = ("NAME", "value", "default", "source")
FROM_ENV, FROM_DEFAULT = "env", "default"
# Fields whose values are secrets: the ones Settings leaves out of its own repr.
SECRET_FIELDS = frozenset(f.name for f in fields(Settings) if not f.repr)


def rows(settings: Settings, environ: Mapping[str, str]) -> list[dict[str, str]]:
    """One row per environment variable: NAME, value, default, source, all as text."""
    defaults = load_settings({})
    table = []
    for variable, (name, _) in _VARIABLES.items():
        table.append({
            "NAME": variable,
            "value": shown(name, getattr(settings, name)),
            "default": shown(name, getattr(defaults, name)),
            "source": FROM_ENV if _set_in(environ, variable) else FROM_DEFAULT,
        })
    return table


def _set_in(environ: Mapping[str, str], variable: str) -> bool:
    # The rule load_settings applies: empty is unset, except for the secret, where empty means "no signatures".
    raw = environ.get(variable)
    return raw is not None and (raw != "" or variable == "API_KEY_HMAC_SECRET")


def shown(name: str, value: object) -> str:
    """A field's value as its environment variable would spell it, secrets hidden."""
    if name in SECRET_FIELDS:
        return "set" if value else "unset"
    if name == "nats_urls":
        return ",".join(redacted_urls(value))  # type: ignore[arg-type]
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v:g}" for k, v in value.items())
    return str(value)


def render_text(table: list[dict[str, str]]) -> str:
    """Aligned columns, one line per setting: no wrapping, whatever reads it (a terminal, a CI log, grep)."""
    widths = {column: max(len(column), *(len(row[column]) for row in table)) for column in COLUMNS}
    lines = ["  ".join(column.ljust(widths[column]) for column in COLUMNS).rstrip()]
    lines += ["  ".join(row[column].ljust(widths[column]) for column in COLUMNS).rstrip() for row in table]
    return "\n".join(lines)


def render_json(table: list[dict[str, str]]) -> str:
    """A list of {"name", "value", "default", "source"} objects, in the table's order."""
    return orjson.dumps([{key.lower(): value for key, value in row.items()} for row in table],
                        option=orjson.OPT_INDENT_2).decode()
