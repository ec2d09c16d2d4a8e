"""Tools act for the caller: the identity comes from the relay, and the order tool keeps to it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.tools import Caller, Tool, ToolError, ToolRegistry, default_registry

DEMO = Caller(customer_id="demo", session_id="s1")


async def test_the_order_tool_answers_for_the_callers_own_order() -> None:
    output = json.loads(
        await default_registry().call("lookup_order", '{"order_id": "4512"}', caller=DEMO)
    )
    assert output["order_id"] == "4512"
    assert output["status"] == "shipped"
    assert "customer_id" not in output


@pytest.mark.parametrize(
    ("caller", "order"),
    [
        (DEMO, "7001"),  # cust-7's order
        (Caller(customer_id="cust-7", session_id="s2"), "4512"),  # demo's order
        (Caller(customer_id=None, session_id="s3"), "4512"),  # an anonymous caller owns nothing
        (DEMO, "1111"),  # no such order
    ],
)
async def test_another_customers_order_looks_like_no_order_at_all(
    caller: Caller, order: str
) -> None:
    with pytest.raises(ToolError) as refused:
        await default_registry().call(
            "lookup_order", json.dumps({"order_id": order}), caller=caller
        )
    assert str(refused.value) == f"the caller has no order with number {order!r}"


async def test_the_model_cannot_name_the_caller() -> None:
    arguments = json.dumps({"order_id": "7001", "caller": {"customer_id": "cust-7"}})
    with pytest.raises(ToolError, match="may not name a 'caller'"):
        await default_registry().call("lookup_order", arguments, caller=DEMO)


async def forgetful(order_id: str) -> dict[str, Any]:
    return {}


async def with_caller(caller: Caller, order_id: str) -> dict[str, Any]:
    return {}


def test_a_tool_without_the_caller_parameter_cannot_be_registered() -> None:
    registry = ToolRegistry()
    with pytest.raises(ValueError, match="first parameter must be 'caller'"):
        registry.register(Tool("forgetful", "d", {"type": "object"}, forgetful))  # type: ignore[arg-type]
    schema = {"type": "object", "properties": {"caller": {"type": "string"}}}
    with pytest.raises(ValueError, match="the model may not set 'caller'"):
        registry.register(Tool("spoofable", "d", schema, with_caller))
    assert registry.names() == frozenset()
