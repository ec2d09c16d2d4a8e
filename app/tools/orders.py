"""The demo's order lookup over a small dataset shipped in the package
(app/tools/data/orders.json).

Each order has an owner (``customer_id``).  The lookup answers only for the caller's own orders:
another customer's order gets the same answer as one that does not exist, so a caller cannot
even learn which numbers are taken, and an anonymous caller owns no order.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from app.tools.registry import Caller, Tool, ToolError


@cache
def _orders() -> dict[str, dict[str, Any]]:
    text = resources.files("app.tools").joinpath("data/orders.json").read_text(encoding="utf-8")
    orders: dict[str, dict[str, Any]] = json.loads(text)
    return orders


async def lookup_order(caller: Caller, order_id: str) -> dict[str, Any]:
    """Status of one of the caller's orders; another number is an error the model can relay."""
    key = str(order_id).strip().lstrip("#")
    order = _orders().get(key)
    if order is None or caller.customer_id is None or order["customer_id"] != caller.customer_id:
        raise ToolError(f"the caller has no order with number {key[:20]!r}")
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
