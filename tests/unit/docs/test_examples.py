"""The example intent and the events the documentation shows are what the contracts allow.

Runs in the test process over examples/send_intent.py, README.md and docs/getting-started.md.
The events shown were captured from a real run (examples/send_intent.py against the service);
this checks that they, and the intent the example sends, stay valid against schemas/.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for

from common.contracts import FILL, ORDER_INTENT, ORDER_UPDATE, RECONCILE, load_schema

ROOT = Path(__file__).resolve().parents[3]
JSON_BLOCK = re.compile(r"^```json\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def validate(contract: str, body: dict[str, Any]) -> None:
    schema = load_schema(contract)
    # Each contract under the draft it declares (the order update's is draft-07), formats checked.
    validator = validator_for(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(body)


def contract_of(body: dict[str, Any]) -> str:
    """Which contract a shown JSON object is, by the field only that contract has."""
    for field, contract in (("confidence", ORDER_INTENT), ("fill_id", FILL), ("reconcile_id", RECONCILE),
                            ("event_type", ORDER_UPDATE)):
        if field in body:
            return contract
    raise AssertionError(f"not an intent or an event: {sorted(body)}")


def send_intent() -> Any:
    spec = importlib.util.spec_from_file_location("send_intent", ROOT / "examples" / "send_intent.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("limit", [None, 1.05])
def test_the_example_sends_a_complete_valid_intent(limit: float | None):
    intent = send_intent().order_intent(limit)
    validate(ORDER_INTENT, intent)
    defined = set(load_schema(ORDER_INTENT)["properties"])
    # Every field the contract defines, but the prices the order type does not use.
    unused = {"price", "stop_price"} if limit is None else {"stop_price"}
    assert set(intent) == defined - unused


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_every_intent_and_event_shown_is_valid_against_its_contract(page: str):
    shown = [json.loads(block) for block in JSON_BLOCK.findall((ROOT / page).read_text())]
    contracts = [contract_of(body) for body in shown]
    assert {ORDER_INTENT, FILL, RECONCILE} <= set(contracts)
    for body, contract in zip(shown, contracts, strict=True):
        validate(contract, body)


def test_a_shown_event_that_breaks_its_contract_is_caught():
    fill = next(json.loads(b) for b in JSON_BLOCK.findall((ROOT / "README.md").read_text()) if '"fill_id"' in b)
    del fill["fill_price"]
    with pytest.raises(ValidationError, match="fill_price"):
        validate(contract_of(fill), fill)


PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_the_plain_nats_py_agent_compiles_and_sends_a_valid_intent():
    """Getting started's own-agent snippet: it compiles, and the intent it builds passes the contract."""
    blocks = [b for b in PYTHON_BLOCK.findall((ROOT / "docs" / "getting-started.md").read_text())
              if "nc.jetstream().publish" in b]
    assert len(blocks) == 1
    namespace: dict[str, Any] = {"__name__": "snippet"}  # not __main__: nothing connects
    exec(compile(blocks[0], "getting-started.md", "exec"), namespace)
    intent = namespace["make_intent"]()
    validate(ORDER_INTENT, intent)
    assert intent["quantity"] == namespace["QUANTITY"]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_the_example_takes_instrument_side_and_quantity(side: str):
    intent = send_intent().order_intent(None, "BTC/USD", side, 0.5)
    validate(ORDER_INTENT, intent)
    assert (intent["instrument"], intent["side"], intent["quantity"]) == ("BTC/USD", side, 0.5)
