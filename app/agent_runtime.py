"""A call's agent: the server-owned session, tools run as tasks, and hand-offs.

`AgentRuntime` sits between the call's two relay loops and the upstream, on the careful path
only (control events; audio never comes here):

* `initial_update` — the first ``session.update`` of the call (active agent, transcription, VAD).
* `from_browser` — a browser event before it is forwarded: ``session.update`` is cut down to the
  allowlist (what was dropped is logged).
* `from_upstream` — an upstream event before it reaches the browser: function-call events are
  withheld, session events lose their instructions and tools, and function calls are started.

Tools run as supervised tasks of the call (so they end with the call), each under
``TOOL_TIMEOUT`` and at most `MAX_CONCURRENT_TOOLS` at a time: the upstream task only starts
them, so audio keeps flowing while a tool works.  A tool that raises or times out answers the
model with an error output and the call goes on.  A hand-off (``transfer_to_<agent>``) is
performed by the relay: a ``session.update`` with the new agent's instructions and tools, then
the function output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from app.agents import Agent, AgentCatalog
from app.dialect import Dialect
from app.function_calls import (
    RESPONSE_CREATE,
    CreateResponse,
    FunctionCalls,
    RunTool,
    function_call_output,
)
from app.session_config import (
    SessionSettings,
    agent_session_update,
    filter_browser_session_update,
    redact_session_event,
)
from app.tools import ToolError
from app.tracker import ConversationTracker

log = logging.getLogger(__name__)

MAX_CONCURRENT_TOOLS = 4
SendUpstream = Callable[[str], Awaitable[None]]
#: Starts a task in the call, under the call's supervisor.
Spawn = Callable[..., None]


@attrs.define(eq=False)
class AgentRuntime:
    catalog: AgentCatalog
    dialect: Dialect
    session_settings: SessionSettings
    tool_timeout: float
    tracker: ConversationTracker
    session_id: str
    agent: Agent = attrs.field(init=False)
    calls: FunctionCalls = attrs.field(init=False, factory=FunctionCalls)
    _limiter: trio.CapacityLimiter = attrs.field(
        init=False, factory=lambda: trio.CapacityLimiter(MAX_CONCURRENT_TOOLS)
    )

    def __attrs_post_init__(self) -> None:
        self.agent = self.catalog[self.catalog.initial_agent]

    def initial_update(self) -> str:
        return self._session_update(self.agent, self.session_settings)

    def _session_update(self, agent: Agent, settings: SessionSettings | None = None) -> str:
        return agent_session_update(
            self.dialect,
            instructions=agent.instructions,
            tools=self.catalog.tool_definitions(agent),
            settings=settings,
        )

    # -- browser -> upstream -------------------------------------------------------------------

    def from_browser(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The event to forward upstream instead of ``event``, or None to withhold it."""
        if event.get("type") != "session.update":
            return event
        allowed, dropped = filter_browser_session_update(event, self.dialect)
        if dropped:
            log.warning(
                "Session %s: the browser's session.update may not set %s; dropped",
                self.session_id,
                ", ".join(dropped),
            )
        return allowed

    # -- upstream -> browser -------------------------------------------------------------------

    def from_upstream(
        self, event: dict[str, Any], spawn: Spawn, send: SendUpstream
    ) -> dict[str, Any] | None:
        """Act on an upstream event; the event the browser gets instead, or None for nothing.

        Work it starts (a tool, a ``response.create``) goes through ``spawn``, which runs it as
        a task of the call under the call's supervisor: a model that goes away mid-tool ends
        the call with the upstream's reason, like any other task noticing it.
        """
        actions = self.calls.observe(event)
        for action in actions:
            if isinstance(action, RunTool):
                spawn(self._run, action, send)
            else:
                spawn(send, RESPONSE_CREATE)
        if FunctionCalls.is_private(event):
            return None
        kind = event.get("type")
        if kind in ("session.created", "session.updated"):
            return redact_session_event(event)
        if kind == "response.done":
            return _without_function_calls(event)
        return event

    # -- tools ------------------------------------------------------------------------------------

    async def _run(self, call: RunTool, send: SendUpstream) -> None:
        async with self._limiter:
            target = self.catalog.handoff_target(call.name)
            if target is not None:
                output = await self._hand_off(target, send)
            elif call.name not in self.agent.tools:
                output = _error(f"the {self.agent.name} agent has no tool named {call.name!r}")
            else:
                output = await self._call_tool(call)
        await send(function_call_output(call.call_id, output))
        for action in self.calls.answered(call.call_id):
            if isinstance(action, CreateResponse):
                await send(RESPONSE_CREATE)

    async def _call_tool(self, call: RunTool) -> str:
        log.info("Session %s: calling tool %s", self.session_id, call.name)
        try:
            with trio.fail_after(self.tool_timeout):
                return await self.catalog.registry.call(call.name, call.arguments)
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
