"""The at-core JSON Schemas this service validates against, loaded from schemas/.

Used by the workers (hot-path validator) and by the tests (reference validator).
The schemas are the project's own copy of ../shared/contracts/at-core.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

ORDER_INTENT = "decisions.order_intent"
FILL = "executions.fill"
RECONCILE = "executions.reconcile"
ORDER_UPDATE = "executions.order_update"

EXECUTION_VENUE = "simulation"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema `name` (e.g. "executions.fill")."""
    with open(SCHEMA_DIR / f"{name}.schema.json", "rb") as f:
        schema: dict[str, Any] = json.load(f)
    return schema
