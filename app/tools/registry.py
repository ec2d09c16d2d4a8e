"""Server-side tools: async Python functions the model may call, described by JSON schemas.

A tool is registered once, by name, with the schema the model sees.  The relay runs it as a task
in the call's nursery (see `app.call.agent_runtime`), so a slow tool never stalls the audio; the
registry itself only describes and dispatches.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

ToolFunction = Callable[..., Awaitable[Any]]


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
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> frozenset[str]:
        return frozenset(self._tools)

    def definitions(self, names: Iterable[str]) -> list[dict[str, Any]]:
        return [self._tools[name].definition() for name in names]

    async def call(self, name: str, arguments: str) -> str:
        """Run tool ``name`` with the model's JSON ``arguments``; the output text for the model.

        Raises `ToolError` for an unknown tool or arguments that are not a JSON object; the
        tool itself may raise anything, which the caller turns into an error output.
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
        try:
            result = await tool.function(**parsed)
        except TypeError as exc:
            raise ToolError(f"wrong arguments for {name}: {exc}") from None
        return result if isinstance(result, str) else json.dumps(result)
