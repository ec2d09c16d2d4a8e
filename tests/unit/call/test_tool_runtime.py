"""Tools inside a call, on trio's MockClock: no sockets, a scripted model, time that jumps.

The call runs in-process: the browser is a pair of memory channels standing in for ASGI
``receive``/``send``, the model is a scripted upstream the test drives, and the recorder is a
fake that keeps documents in a list (the real stores have their own tests).  With
``autojump_clock`` a 5-second tool takes no real time, and the test can still assert *when*
things happened.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing

from app.agents.catalog import AgentCatalog, parse_catalog
from app.call.browser import BrowserSocket
from app.call.call import Call
from app.call.settings import CallLimits, SaveOutcome
from app.call.tool_runner import TOOL_QUEUE, TOOL_WORKERS
from app.model.upstream import UpstreamClosed
from app.rules.dialect import Dialect
from app.rules.session_config import SessionSettings
from app.tools import Caller, Tool, ToolRegistry

TOOL_TIMEOUT = 10.0


async def slow_tool(caller: Caller) -> dict[str, Any]:
    await trio.sleep(5)
    return {"ok": True}


async def broken_tool(caller: Caller) -> dict[str, Any]:
    raise RuntimeError("database on fire")


async def stuck_tool(caller: Caller) -> dict[str, Any]:
    await trio.sleep_forever()
    raise AssertionError


async def echo_tool(caller: Caller, value: str) -> dict[str, Any]:
    return {"value": value, "for": [caller.customer_id, caller.session_id]}


def catalog() -> AgentCatalog:
    registry = ToolRegistry()
    for function in (slow_tool, broken_tool, stuck_tool, echo_tool):
        registry.register(Tool(function.__name__, "test tool", {"type": "object"}, function))
    return parse_catalog(
        {
            "agents": {
                "root": {
                    "instructions": "Root instructions.",
                    "tools": ["slow_tool", "broken_tool", "stuck_tool", "echo_tool"],
                    "handoffs": ["sales"],
                },
                "sales": {"instructions": "Sales instructions.", "tools": []},
            }
        },
        registry,
    )


@attrs.define
class FakeRecorder:
    documents: list[Mapping[str, Any]] = attrs.field(factory=list)

    async def save(self, doc: Mapping[str, Any]) -> SaveOutcome:
        self.documents.append(doc)
        return "stored"

    async def checkpoint(self, session_id: str, doc: Mapping[str, Any]) -> None:
        pass

    async def discard_checkpoint(self, session_id: str) -> None:
        pass


@attrs.define
class ScriptedModel:
    """The upstream: the test sends the model's events and reads what the relay sent it."""

    to_relay: trio.MemorySendChannel[str]
    from_relay: trio.MemoryReceiveChannel[str]

    async def say(self, **event: Any) -> None:
        await self.to_relay.send(json.dumps(event))

    async def received(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(await self.from_relay.receive())
        return event

    def nothing_more(self) -> bool:
        try:
            self.from_relay.receive_nowait()
        except trio.WouldBlock:
            return True
        return False


@attrs.define
class ScriptedUpstream:
    to_model: trio.MemorySendChannel[str]
    from_model: trio.MemoryReceiveChannel[str]
    #: Set by a test: the connection is broken, and sends fail with this close code.
    broken: int | None = None

    async def send(self, text: str) -> None:
        if self.broken is not None:
            raise UpstreamClosed(self.broken)
        await self.to_model.send(text)

    async def receive(self) -> str:
        return await self.from_model.receive()

    async def aclose(self, code: int = 1000) -> None:
        pass


@attrs.define
class ScriptedConnector:
    upstream: ScriptedUpstream
    description: str = "scripted model"
    dialect: Dialect = Dialect.GA

    async def connect(self, nursery: trio.Nursery) -> ScriptedUpstream:
        return self.upstream


@attrs.define
class Harness:
    call: Call
    model: ScriptedModel
    browser_in: trio.MemorySendChannel[dict[str, Any]]
    browser_out: trio.MemoryReceiveChannel[MutableMapping[str, Any]]
    recorder: FakeRecorder
    upstream: ScriptedUpstream

    async def browser_receives(self) -> dict[str, Any]:
        message = await self.browser_out.receive()
        event: dict[str, Any] = json.loads(message["text"])
        return event


USER_ITEM = {
    "id": "u1",
    "type": "message",
    "role": "user",
    "content": [{"type": "input_text", "text": "I want to buy."}],
}


@asynccontextmanager
async def scripted_call() -> AsyncIterator[Harness]:
    to_model, model_inbox = trio.open_memory_channel[str](100)
    model_outbox, from_model = trio.open_memory_channel[str](100)
    browser_in, receive = trio.open_memory_channel[dict[str, Any]](100)
    send, browser_out = trio.open_memory_channel[MutableMapping[str, Any]](100)
    recorder = FakeRecorder()
    upstream = ScriptedUpstream(to_model, from_model)
    call = Call(
        session_id="s1",
        customer_id="c1",
        receive=receive.receive,
        browser=BrowserSocket(send.send),
        connector=ScriptedConnector(upstream),
        recorder=recorder,
        limits=CallLimits(
            idle_timeout=3600,
            max_duration=7200,
            save_timeout=10,
            checkpoint_interval=3600,
            max_frame_bytes=1 << 20,
            tool_timeout=TOOL_TIMEOUT,
        ),
        catalog=catalog(),
        session_settings=SessionSettings(transcription_model="t", voice="v"),
    )
    model = ScriptedModel(model_outbox, model_inbox)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(call.run)
        first = await model.received()
        assert first["type"] == "session.update"
        assert first["session"]["instructions"] == "Root instructions."
        yield Harness(call, model, browser_in, browser_out, recorder, upstream)
        await browser_in.send({"type": "websocket.disconnect", "code": 1000})


async def function_call(
    model: ScriptedModel, response_id: str, call_id: str, name: str, arguments: str = "{}"
) -> None:
    item = {"type": "function_call", "id": f"i_{call_id}", "call_id": call_id, "name": name}
    await model.say(type="response.output_item.added", response_id=response_id, item=item)
    await model.say(
        type="response.function_call_arguments.done",
        response_id=response_id,
        item_id=f"i_{call_id}",
        call_id=call_id,
        arguments=arguments,
    )


async def response(model: ScriptedModel, response_id: str, *calls: tuple[str, str, str]) -> None:
    await model.say(type="response.created", response={"id": response_id})
    for call_id, name, arguments in calls:
        await function_call(model, response_id, call_id, name, arguments)
    await model.say(type="response.done", response={"id": response_id, "status": "completed"})


AUDIO_DELTA = (
    '{"type":"response.output_audio.delta","event_id":"e","response_id":"r0",'
    '"item_id":"a1","output_index":0,"content_index":0,"delta":"AAAA"}'
)


async def test_a_slow_tool_does_not_delay_audio(autojump_clock: trio.abc.Clock) -> None:
    async with scripted_call() as h:
        start = trio.current_time()
        await response(h.model, "r1", ("c1", "slow_tool", "{}"))
        for _ in range(5):
            await h.model.to_relay.send(AUDIO_DELTA)
        seen: list[float] = []
        while len(seen) < 5:
            event = await h.browser_receives()
            if event["type"] == "response.output_audio.delta":
                seen.append(trio.current_time() - start)
        assert max(seen) < 1.0  # relayed while the 5-second tool was still running
        output = await h.model.received()
        assert trio.current_time() - start >= 5.0
        assert output["item"] == {
            "type": "function_call_output",
            "call_id": "c1",
            "output": '{"ok": true}',
        }
        assert await h.model.received() == {"type": "response.create"}


async def test_two_calls_give_two_outputs_and_one_response_create(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with scripted_call() as h:
        await response(
            h.model, "r1", ("c1", "echo_tool", '{"value": "a"}'), ("c2", "slow_tool", "{}")
        )
        outputs = [await h.model.received(), await h.model.received()]
        assert sorted(o["item"]["call_id"] for o in outputs) == ["c1", "c2"]
        assert all(o["type"] == "conversation.item.create" for o in outputs)
        assert await h.model.received() == {"type": "response.create"}
        await trio.testing.wait_all_tasks_blocked()
        assert h.model.nothing_more()
    assert h.recorder.documents == []  # nothing was said


async def test_a_failing_tool_answers_with_an_error_and_the_call_goes_on(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with scripted_call() as h:
        await response(h.model, "r1", ("c1", "broken_tool", "{}"))
        output = json.loads((await h.model.received())["item"]["output"])
        assert output == {"error": "broken_tool failed: RuntimeError"}
        assert await h.model.received() == {"type": "response.create"}
        await response(h.model, "r2", ("c2", "echo_tool", '{"value": "still here"}'))
        output = json.loads((await h.model.received())["item"]["output"])
        assert output["value"] == "still here"


async def test_a_stuck_tool_times_out(autojump_clock: trio.abc.Clock) -> None:
    async with scripted_call() as h:
        start = trio.current_time()
        await response(h.model, "r1", ("c1", "stuck_tool", "{}"))
        output = json.loads((await h.model.received())["item"]["output"])
        assert trio.current_time() - start >= TOOL_TIMEOUT
        assert "did not answer within 10 seconds" in output["error"]


async def test_bad_arguments_and_unknown_tools_are_errors(autojump_clock: trio.abc.Clock) -> None:
    async with scripted_call() as h:
        await response(h.model, "r1", ("c1", "echo_tool", "not json"), ("c2", "lookup_order", "{}"))
        errors = {}
        for _ in range(2):
            output = await h.model.received()
            errors[output["item"]["call_id"]] = json.loads(output["item"]["output"])["error"]
        assert "not valid JSON" in errors["c1"]
        assert "no tool named 'lookup_order'" in errors["c2"]


async def test_hand_off_updates_the_session_and_the_record(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with scripted_call() as h:
        await h.model.say(type="conversation.item.added", previous_item_id=None, item=USER_ITEM)
        await response(h.model, "r1", ("c1", "transfer_to_sales", "{}"))
        update = await h.model.received()
        assert update["type"] == "session.update"
        assert update["session"]["instructions"] == "Sales instructions."
        assert update["session"]["tools"] == []
        output = await h.model.received()
        assert json.loads(output["item"]["output"]) == {"transferred_to": "sales"}
        assert await h.model.received() == {"type": "response.create"}
        assert h.call.agent.agent.name == "sales"
    [doc] = h.recorder.documents
    assert doc["metadata"]["agents_used"] == ["root", "sales"]
    assert doc["metadata"]["tools_called"] == []


async def test_the_model_going_away_while_a_tool_runs_ends_the_call_with_its_reason(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The tool's answer is the first to notice: the call ends as upstream_error, not a crash."""
    async with scripted_call() as h:
        await h.model.say(type="conversation.item.added", previous_item_id=None, item=USER_ITEM)
        await response(h.model, "r1", ("c1", "slow_tool", "{}"))
        await trio.testing.wait_all_tasks_blocked()
        h.upstream.broken = 1006  # no close frame; the reader keeps waiting
        with trio.fail_after(60):
            await h.call.ended.wait()
        assert h.call.reason is not None
        assert h.call.reason.value == "upstream_error"
        assert h.call.outcome == "stored"
    [doc] = h.recorder.documents
    assert doc["disconnect_reason"] == "upstream_error"


async def test_a_transfer_to_an_unknown_agent_is_refused_and_not_recorded(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with scripted_call() as h:
        await h.model.say(type="conversation.item.added", previous_item_id=None, item=USER_ITEM)
        await response(h.model, "r1", ("c1", "transfer_to_nowhere", "{}"))
        output = json.loads((await h.model.received())["item"]["output"])
        assert "no tool named 'transfer_to_nowhere'" in output["error"]
        assert h.call.agent.agent.name == "root"
    [doc] = h.recorder.documents
    assert doc["metadata"]["agents_used"] == ["root"]


async def test_a_tool_works_for_the_admitted_caller_whatever_the_model_says(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with scripted_call() as h:
        await response(
            h.model,
            "r1",
            ("c1", "echo_tool", '{"value": "x"}'),
            ("c2", "echo_tool", '{"value": "x", "caller": {"customer_id": "victim"}}'),
        )
        outputs = {}
        for _ in range(2):
            output = await h.model.received()
            outputs[output["item"]["call_id"]] = json.loads(output["item"]["output"])
    assert outputs["c1"] == {"value": "x", "for": ["c1", "s1"]}
    assert "may not name a 'caller'" in outputs["c2"]["error"]


async def test_a_hand_off_only_to_the_active_agents_handoffs(
    autojump_clock: trio.abc.Clock,
) -> None:
    """sales exists but lists no hand-offs: once there, a transfer back to root is refused."""
    async with scripted_call() as h:
        await h.model.say(type="conversation.item.added", previous_item_id=None, item=USER_ITEM)
        await response(h.model, "r1", ("c1", "transfer_to_sales", "{}"))
        assert (await h.model.received())["type"] == "session.update"
        assert json.loads((await h.model.received())["item"]["output"]) == {
            "transferred_to": "sales"
        }
        assert await h.model.received() == {"type": "response.create"}
        await response(h.model, "r2", ("c2", "transfer_to_root", "{}"))
        output = json.loads((await h.model.received())["item"]["output"])
        assert output == {"error": "the sales agent cannot transfer to root"}
        assert await h.model.received() == {"type": "response.create"}
        assert h.call.agent.agent.name == "sales"
    [doc] = h.recorder.documents
    assert doc["metadata"]["agents_used"] == ["root", "sales"]


async def test_function_calls_run_on_a_fixed_set_of_workers(autojump_clock: trio.abc.Clock) -> None:
    """Ten 5-second tools: four at a time (TOOL_WORKERS), so their answers come in waves."""
    async with scripted_call() as h:
        start = trio.current_time()
        calls = [(f"c{n}", "slow_tool", "{}") for n in range(10)]
        await response(h.model, "r1", *calls)
        answered_at = []
        for _ in range(10):
            output = await h.model.received()
            assert output["type"] == "conversation.item.create"
            answered_at.append(round(trio.current_time() - start))
        assert answered_at == [5] * TOOL_WORKERS + [10] * TOOL_WORKERS + [15] * 2
        assert await h.model.received() == {"type": "response.create"}


async def test_a_flood_of_function_calls_waits_for_room_instead_of_growing_without_bound(
    autojump_clock: trio.abc.Clock,
) -> None:
    """More calls than workers and queue hold: the reader waits (backpressure), nothing is lost."""
    flood = TOOL_WORKERS + TOOL_QUEUE + 4
    async with scripted_call() as h:
        start = trio.current_time()
        calls = [(f"c{n}", "slow_tool", "{}") for n in range(flood)]
        await response(h.model, "r1", *calls)
        await h.model.to_relay.send(AUDIO_DELTA)
        while (await h.browser_receives())["type"] != "response.output_audio.delta":
            pass
        # The delta came after the flood: the reader could only read it once a worker was free.
        assert trio.current_time() - start >= 5.0
        outputs = {(await h.model.received())["item"]["call_id"] for _ in range(flood)}
        assert outputs == {f"c{n}" for n in range(flood)}
