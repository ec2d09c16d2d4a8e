"""Server-side tools: async Python functions the model may call, described by JSON schemas.

A tool is registered once, by name, with the schema the model sees.  The relay runs it as a task
in the call's nursery (see `app.call.agent_runtime`), so a slow tool never stalls the audio; the
registry itself only describes and dispatches.

Tools act for the caller, never for whoever the model names.  Every tool function takes the
call's authenticated identity (`Caller`: the customer id the relay admitted, the session id) as
its first parameter, ``caller``, from the relay; the model's arguments fill the others.  The
interface makes that impossible to forget: `ToolFunction` requires the parameter (mypy),
`ToolRegistry.register` refuses a function without it or a schema that offers the model a
``caller`` field, and `ToolRegistry.call` cannot be called without a `Caller` and refuses
arguments that try to name one.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Concatenate

import attrs

#: The parameter through which every tool receives the call's identity.
CALLER_PARAMETER = "caller"


@attrs.frozen
class Caller:
    """Who a tool works for: the call's authenticated identity, set by the relay.

    ``customer_id`` is the id the relay admitted the call with (the call token's ``sub``, or the
    trusted ``?customer_id=`` without ``CALL_TOKEN_SECRET``); None for an anonymous caller, who
    owns nothing.
    """

    customer_id: str | None
    session_id: str


ToolFunction = Callable[Concatenate[Caller, ...], Awaitable[Any]]


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model as the output."""


@attrs.frozen
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]
    function: ToolFunction = attrs.field(eq=False, repr=False)

    def definition(self) -> dict[str, Any]:
        """The function definition for ``session.update`` (the same in both dialects)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


@attrs.define
class ToolRegistry:
    _tools: dict[str, Tool] = attrs.field(factory=dict)

    def register(self, tool: Tool) -> None:
        """Add ``tool``; raises ``ValueError`` for a second tool of that name, a function whose
        first parameter is not ``caller``, or a schema that lets the model set ``caller``."""
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        parameters = list(inspect.signature(tool.function).parameters)
        if not parameters or parameters[0] != CALLER_PARAMETER:
            raise ValueError(
                f"tool {tool.name!r}: the function's first parameter must be "
                f"{CALLER_PARAMETER!r} (the call's identity, given by the relay)"
            )
        properties = tool.parameters.get("properties")
        if isinstance(properties, Mapping) and CALLER_PARAMETER in properties:
            raise ValueError(
                f"tool {tool.name!r}: the model may not set {CALLER_PARAMETER!r}; the relay does"
            )
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> frozenset[str]:
        return frozenset(self._tools)

    def definitions(self, names: Iterable[str]) -> list[dict[str, Any]]:
        return [self._tools[name].definition() for name in names]

    async def call(self, name: str, arguments: str, *, caller: Caller) -> str:
        """Run tool ``name`` for ``caller`` with the model's JSON ``arguments``; the output text
        for the model.

        Raises `ToolError` for an unknown tool, arguments that are not a JSON object, or
        arguments that name a ``caller`` (the model cannot act for someone else); the tool
        itself may raise anything, which the caller turns into an error output.
        """
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"there is no tool named {name!r}")
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError as exc:
            raise ToolError(f"the arguments are not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ToolError("the arguments must be a JSON object")
        if CALLER_PARAMETER in parsed:
            raise ToolError(f"the arguments may not name a {CALLER_PARAMETER!r}")
        try:
            result = await tool.function(caller, **parsed)
        except TypeError as exc:
            raise ToolError(f"wrong arguments for {name}: {exc}") from None
        return result if isinstance(result, str) else json.dumps(result)
