"""Agents, tools and hand-offs through a real relay and the simulator, in both dialects.

The simulator calls ``lookup_order`` when the caller mentions an order and
``transfer_to_sales`` when the caller wants to buy; the relay runs the tool, performs the
hand-off, answers the model and asks for the next response — and the browser sees none of the
function-call traffic, nor the agent's instructions and tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.rules.dialect import Dialect, names
from app.simulator import SimulatorOptions
from tests.support.harness import Client, connect, relay_settings, running_relay

PRIVATE = {
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
}


def spoken(events: list[dict[str, Any]], dialect: Dialect) -> list[str]:
    done = names(dialect).transcript_done
    return [e["transcript"] for e in events if e["type"] == done]


def assert_nothing_private(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert event["type"] not in PRIVATE, event
        item = event.get("item")
        if isinstance(item, dict):
            assert item.get("type") not in ("function_call", "function_call_output"), event
        response = event.get("response")
        if isinstance(response, dict):
            assert all(o.get("type") != "function_call" for o in response.get("output", []))
        session = event.get("session")
        if isinstance(session, dict):
            assert "instructions" not in session and "tools" not in session, event


async def turn_until_spoken(client: Client, text: str, dialect: Dialect) -> list[dict[str, Any]]:
    """Say ``text``; collect events until the assistant has spoken (after any tool round)."""
    events = await client.say(text)
    while not spoken(events, dialect):
        events += await client.receive_until("response.done")
    return events


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.BETA], ids=["ga", "beta"])
async def test_order_lookup_hand_off_and_hang_up(tmp_path: Path, dialect: Dialect) -> None:
    simulator = SimulatorOptions(dialect=dialect, speed=50.0)
    async with running_relay(relay_settings(tmp_path), simulator=simulator) as relay:
        async with connect(relay, customer_id="demo") as client:
            opening = await client.receive_until("session.updated")
            order = await turn_until_spoken(client, "Where is my order 4512?", dialect)
            buy = await turn_until_spoken(client, "I'd like to buy a second one.", dialect)
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()

    assert_nothing_private(opening + order + buy)
    [order_reply] = spoken(order, dialect)
    assert "4512" in order_reply and "shipped" in order_reply
    [sales_intro] = spoken(buy, dialect)
    assert "sales" in sales_intro.lower()

    assert doc["metadata"]["tools_called"] == ["lookup_order"]
    assert doc["metadata"]["agents_used"] == ["root", "sales"]
    assert doc["metadata"]["initial_agent"] == "root"
    assert [(m["sender"], m["message"]) for m in doc["messages"]] == [
        ("user", "Where is my order 4512?"),
        ("assistant", order_reply),
        ("user", "I'd like to buy a second one."),
        ("assistant", sales_intro),
    ]


async def test_unknown_order_answers_the_model_with_an_error(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay) as client:
            events = await turn_until_spoken(client, "What about order 1111?", Dialect.GA)
            await client.hang_up()
        await relay.wait_calls_ended()
    assert_nothing_private(events)
    # The simulator, given an error output instead of a status, says it checked the order.
    [reply] = spoken(events, Dialect.GA)
    assert "1111" in reply
