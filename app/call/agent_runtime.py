"""A call's agent: the server-owned session, function calls, and hand-offs (no tasks of its own).

`AgentRuntime` sits between the call's two relay loops and the upstream, on the careful path
only (control events; audio never comes here):

* `initial_update` — the first ``session.update`` of the call (active agent, transcription, VAD).
* `from_upstream` — an upstream event before it reaches the browser: function-call events are
  withheld, session events lose their instructions and tools; and the work the event asks for
  (`RunTool`, `CreateResponse`) is returned, not done.
* `perform` — does one such action: called by the call's `ToolRunner` workers, off the reader,
  so audio keeps flowing while a tool works.

A tool runs under ``TOOL_TIMEOUT`` for the call's `Caller` (the identity the relay admitted,
never one from the model's arguments); one that raises or times out answers the model with an
error output and the call goes on.  A hand-off (``transfer_to_<agent>`` for an agent in the
active agent's ``handoffs``) is performed by the relay: a ``session.update`` with the new
agent's instructions and tools, then the function output; only then is it recorded.  A request
for any other agent is answered with an error output, as an unknown tool is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from app.agents import Agent, AgentCatalog
from app.record.tracker import ConversationTracker
from app.rules.dialect import Dialect
from app.rules.function_calls import (
    RESPONSE_CREATE,
    Action,
    CreateResponse,
    FunctionCalls,
    RunTool,
    function_call_output,
)
from app.rules.session_config import (
    SessionSettings,
    agent_session_update,
    redact_session_event,
)
from app.tools import Caller, ToolError

log = logging.getLogger(__name__)

SendUpstream = Callable[[str], Awaitable[None]]


@attrs.define(eq=False)
class AgentRuntime:
    catalog: AgentCatalog
    dialect: Dialect
    session_settings: SessionSettings
    tool_timeout: float
    tracker: ConversationTracker
    #: Who the call's tools work for (the relay's admission decided it).
    caller: Caller
    agent: Agent = attrs.field(init=False)
    calls: FunctionCalls = attrs.field(init=False, factory=FunctionCalls)

    def __attrs_post_init__(self) -> None:
        self.agent = self.catalog[self.catalog.initial_agent]

    @property
    def session_id(self) -> str:
        return self.caller.session_id

    def initial_update(self) -> str:
        return self._session_update(self.agent, self.session_settings)

    def _session_update(self, agent: Agent, settings: SessionSettings | None = None) -> str:
        return agent_session_update(
            self.dialect,
            instructions=agent.instructions,
            tools=self.catalog.tool_definitions(agent),
            settings=settings,
        )

    # -- upstream -> browser -------------------------------------------------------------------

    def from_upstream(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Action]]:
        """Follow an upstream event: the event the browser gets instead (None for nothing), and
        the work to do on the model's behalf (`perform` it off the reader, in the call's
        `ToolRunner`)."""
        actions = self.calls.observe(event)
        if FunctionCalls.is_private(event):
            return None, actions
        kind = event.get("type")
        if kind in ("session.created", "session.updated"):
            return redact_session_event(event), actions
        if kind == "response.done":
            return _without_function_calls(event), actions
        return event, actions

    # -- tools ------------------------------------------------------------------------------------

    async def perform(self, action: Action, send: SendUpstream) -> None:
        """Do ``action`` and answer the model through ``send``.

        A function call is a hand-off (a known agent), a tool of the active agent, or an error
        output; once every call of a finished response is answered, one ``response.create``.
        """
        if isinstance(action, CreateResponse):
            await send(RESPONSE_CREATE)
            return
        target = self.catalog.handoff_target(action.name)
        if target is not None and target in self.agent.handoffs:
            output = await self._hand_off(target, send)
        elif target is not None:
            log.warning(
                "Session %s: the %s agent may not hand off to %s; refused",
                self.session_id,
                self.agent.name,
                target,
            )
            output = _error(f"the {self.agent.name} agent cannot transfer to {target}")
        elif action.name not in self.agent.tools:
            output = _error(f"the {self.agent.name} agent has no tool named {action.name!r}")
        else:
            output = await self._call_tool(action)
        await send(function_call_output(action.call_id, output))
        for follow_up in self.calls.answered(action.call_id):
            if isinstance(follow_up, CreateResponse):
                await send(RESPONSE_CREATE)

    async def _call_tool(self, call: RunTool) -> str:
        log.info("Session %s: calling tool %s", self.session_id, call.name)
        try:
            with trio.fail_after(self.tool_timeout):
                return await self.catalog.registry.call(
                    call.name, call.arguments, caller=self.caller
                )
        except trio.TooSlowError:
            log.warning("Session %s: tool %s timed out", self.session_id, call.name)
            return _error(f"{call.name} did not answer within {self.tool_timeout:g} seconds")
        except ToolError as exc:
            return _error(str(exc))
        except Exception as exc:
            log.exception("Session %s: tool %s failed", self.session_id, call.name)
            return _error(f"{call.name} failed: {type(exc).__name__}")

    async def _hand_off(self, target: str, send: SendUpstream) -> str:
        previous = self.agent
        self.agent = self.catalog[target]
        log.info("Session %s: hand-off %s -> %s", self.session_id, previous.name, target)
        await send(self._session_update(self.agent))
        self.tracker.observe_handoff(target, trio.current_time())
        return json.dumps({"transferred_to": target})


def _error(message: str) -> str:
    return json.dumps({"error": message})


def _without_function_calls(event: dict[str, Any]) -> dict[str, Any]:
    response = event.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        return event
    visible = [
        item
        for item in output
        if not (isinstance(item, dict) and item.get("type") == "function_call")
    ]
    if len(visible) == len(output):
        return event
    assert isinstance(response, dict)
    return {**event, "response": {**response, "output": visible}}
