"""The simulated model's "thinking": what to do when asked for a response.

Deterministic keyword intent on the latest thing said, so tests can predict every reply:

- the latest item answers a function call -> speak, using the output;
- the caller wants to buy -> hand off with ``transfer_to_sales``;
- the caller mentions an order -> ``lookup_order`` with the number said (or the default);
- otherwise a scripted line.

No I/O here.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import attrs

from app.simulator import script
from app.simulator.conversation import Conversation, Item

_BUY: Final = re.compile(r"\b(buy|purchase|order another)\b", re.IGNORECASE)
_ORDER: Final = re.compile(r"\border(s)?\b", re.IGNORECASE)
_DIGITS: Final = re.compile(r"\d+")
_GOODBYE: Final = re.compile(r"\b(thanks|thank you|bye|goodbye|that's all)\b", re.IGNORECASE)
_HELLO: Final = re.compile(r"\b(hi|hello|hey|help)\b", re.IGNORECASE)


@attrs.frozen
class SpokenReply:
    """Answer with an assistant message saying ``text``."""

    text: str


@attrs.frozen
class ToolCall:
    """Answer with a function call."""

    name: str
    arguments: str


Plan = SpokenReply | ToolCall


def plan_reply(conversation: Conversation) -> Plan:
    """Decide the next response from the conversation so far."""
    for item in reversed(conversation.items):
        if item.type == "function_call_output":
            call = conversation.function_call(item.call_id)
            return SpokenReply(_reply_to_output(call, item.output or ""))
        if item.type == "function_call":
            return SpokenReply(script.HOLD)
        if item.type == "message" and item.role == "assistant":
            return SpokenReply(script.FOLLOW_UP)
        if item.is_user_message:
            return _reply_to_user(item.text)
    return SpokenReply(script.GREETING)


def _reply_to_user(text: str) -> Plan:
    if _BUY.search(text):
        return ToolCall(script.TRANSFER_TO_SALES, "{}")
    if _ORDER.search(text):
        digits = _DIGITS.search(text)
        order_id = digits.group() if digits else script.DEFAULT_ORDER_ID
        return ToolCall(script.LOOKUP_ORDER, json.dumps({"order_id": order_id}))
    if _GOODBYE.search(text):
        return SpokenReply(script.GOODBYE)
    if _HELLO.search(text):
        return SpokenReply(script.OFFER_HELP)
    return SpokenReply(script.FALLBACK)


def _reply_to_output(call: Item | None, output: str) -> str:
    name = call.name if call else None
    if name == script.TRANSFER_TO_SALES:
        return script.SALES_INTRO
    if name != script.LOOKUP_ORDER:
        return script.TOOL_DONE
    result = _json_object(output)
    asked = _json_object(call.arguments if call else None)
    order_id = str(result.get("order_id") or asked.get("order_id") or script.DEFAULT_ORDER_ID)
    status = result.get("status")
    if not isinstance(status, str) or not status:
        return script.order_checked_reply(order_id)
    arrival = next(
        (str(result[key]) for key in ("eta", "arrives", "delivery_date") if result.get(key)), None
    )
    return script.order_status_reply(order_id, status, arrival)


def _json_object(text: str | None) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or ``{}`` when it is not one (tool output is free text)."""
    try:
        value = json.loads(text or "")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
