"""The demo's order lookup over a small dataset shipped in the package
(app/tools/data/orders.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from app.tools.registry import Tool, ToolError


@cache
def _orders() -> dict[str, dict[str, Any]]:
    text = resources.files("app.tools").joinpath("data/orders.json").read_text(encoding="utf-8")
    orders: dict[str, dict[str, Any]] = json.loads(text)
    return orders


async def lookup_order(order_id: str) -> dict[str, Any]:
    """Status of one order; unknown numbers are an error the model can relay to the caller."""
    key = str(order_id).strip().lstrip("#")
    order = _orders().get(key)
    if order is None:
        raise ToolError(f"no order with number {key!r}")
    return {"order_id": key, **{k: v for k, v in order.items() if k != "customer_id"}}


LOOKUP_ORDER = Tool(
    name="lookup_order",
    description="Look up the status and expected delivery of a customer's order by its number.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order number"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
    function=lookup_order,
)
