"""FunctionCalls (sans-IO): run every call, then exactly one response.create at the right time."""

from __future__ import annotations

from typing import Any

from app.rules.function_calls import CreateResponse, FunctionCalls, RunTool


def call_item(call_id: str, name: str) -> dict[str, Any]:
    return {"type": "function_call", "id": f"item_{call_id}", "call_id": call_id, "name": name}


def function_call_events(
    response_id: str, call_id: str, name: str, *, name_on_done: bool = True
) -> list[dict[str, Any]]:
    done: dict[str, Any] = {
        "type": "response.function_call_arguments.done",
        "response_id": response_id,
        "item_id": f"item_{call_id}",
        "call_id": call_id,
        "arguments": '{"order_id": "4512"}',
    }
    if name_on_done:
        done["name"] = name
    return [
        {
            "type": "response.output_item.added",
            "response_id": response_id,
            "item": call_item(call_id, name),
        },
        {"type": "response.function_call_arguments.delta", "call_id": call_id, "delta": "{"},
        done,
    ]


def response_done(response_id: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "response.done", "response": {"id": response_id, "status": status}}


def feed(calls: FunctionCalls, events: list[dict[str, Any]]) -> list[Any]:
    actions: list[Any] = []
    for event in events:
        actions += calls.observe(event)
    return actions


def test_one_call_answered_after_the_response_is_done() -> None:
    calls = FunctionCalls()
    actions = feed(
        calls,
        [
            {"type": "response.created", "response": {"id": "r1"}},
            *function_call_events("r1", "c1", "lookup_order"),
        ],
    )
    assert actions == [RunTool("c1", "lookup_order", '{"order_id": "4512"}')]
    assert calls.answered("c1") == []  # the response is still active
    assert feed(calls, [response_done("r1")]) == [CreateResponse()]


def test_response_done_first_then_the_answer_creates_the_response() -> None:
    calls = FunctionCalls()
    feed(calls, [{"type": "response.created", "response": {"id": "r1"}}])
    feed(calls, function_call_events("r1", "c1", "lookup_order"))
    assert feed(calls, [response_done("r1")]) == []
    assert calls.answered("c1") == [CreateResponse()]
    assert calls.answered("c1") == []  # answering twice changes nothing


def test_two_calls_in_one_response_give_one_response_create() -> None:
    calls = FunctionCalls()
    feed(calls, [{"type": "response.created", "response": {"id": "r1"}}])
    runs = feed(
        calls,
        function_call_events("r1", "c1", "lookup_order")
        + function_call_events("r1", "c2", "lookup_order"),
    )
    assert [run.call_id for run in runs] == ["c1", "c2"]
    assert feed(calls, [response_done("r1")]) == []
    assert calls.answered("c2") == []
    assert calls.answered("c1") == [CreateResponse()]


def test_the_name_comes_from_the_item_when_done_lacks_it() -> None:
    # GA's response.function_call_arguments.done carries no name.
    calls = FunctionCalls()
    actions = feed(calls, function_call_events("r1", "c1", "transfer_to_sales", name_on_done=False))
    assert actions == [RunTool("c1", "transfer_to_sales", '{"order_id": "4512"}')]


def test_a_cancelled_response_gets_outputs_but_no_new_response() -> None:
    calls = FunctionCalls()
    feed(calls, [{"type": "response.created", "response": {"id": "r1"}}])
    feed(calls, function_call_events("r1", "c1", "lookup_order"))
    feed(calls, [response_done("r1", status="cancelled")])
    assert calls.answered("c1") == []


def test_no_response_create_while_another_response_is_active() -> None:
    calls = FunctionCalls()
    feed(calls, [{"type": "response.created", "response": {"id": "r1"}}])
    feed(calls, function_call_events("r1", "c1", "lookup_order"))
    feed(calls, [response_done("r1")])
    # The user spoke meanwhile and server VAD started a response that will see the output.
    feed(calls, [{"type": "response.created", "response": {"id": "r2"}}])
    assert calls.answered("c1") == []


def test_private_events() -> None:
    private: list[dict[str, Any]] = [
        {"type": "response.function_call_arguments.delta"},
        {"type": "response.function_call_arguments.done"},
        {"type": "response.output_item.added", "item": {"type": "function_call"}},
        {"type": "conversation.item.added", "item": {"type": "function_call_output"}},
        {"type": "conversation.item.created", "item": {"type": "function_call"}},
    ]
    public: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "item": {"type": "message"}},
        {"type": "conversation.item.added", "item": {"type": "message", "role": "user"}},
        {"type": "response.done", "response": {}},
        {"type": "response.output_audio.delta"},
    ]
    assert all(FunctionCalls.is_private(e) for e in private)
    assert not any(FunctionCalls.is_private(e) for e in public)


def test_malformed_events_are_ignored() -> None:
    calls = FunctionCalls()
    junk: list[dict[str, Any]] = [
        {"type": "response.function_call_arguments.done"},
        {"type": "response.function_call_arguments.done", "call_id": 7},
        {"type": "response.output_item.added", "item": "nope"},
        {"type": "response.done", "response": None},
        {"type": "response.created"},
    ]
    assert feed(calls, junk) == []
    assert calls.answered("missing") == []
