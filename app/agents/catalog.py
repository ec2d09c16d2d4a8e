"""Agents as data: instructions, tools and hand-offs read from a TOML file.

The catalog is loaded and checked once at start-up (`load_catalog`): a missing tool or hand-off
target stops the relay with a message naming the agent, rather than failing mid-call.  Hand-offs
become tools named ``transfer_to_<agent>`` that the relay performs itself.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from app.rules.handoff import HANDOFF_PREFIX, requested_agent
from app.tools.registry import ToolRegistry

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class CatalogError(ValueError):
    """The agents file is malformed or refers to something that does not exist."""


@attrs.frozen
class Agent:
    name: str
    description: str
    instructions: str
    tools: tuple[str, ...]
    handoffs: tuple[str, ...]


@attrs.frozen
class AgentCatalog:
    agents: Mapping[str, Agent]
    initial_agent: str
    registry: ToolRegistry = attrs.field(eq=False)

    def __getitem__(self, name: str) -> Agent:
        return self.agents[name]

    def handoff_target(self, function_name: str) -> str | None:
        """The agent a ``transfer_to_<agent>`` function call hands off to, if it is one."""
        target = requested_agent(function_name)
        return target if target in self.agents else None

    def tool_definitions(self, agent: Agent) -> list[dict[str, Any]]:
        """What the model sees for ``agent``: its tools, then one transfer tool per hand-off."""
        definitions = self.registry.definitions(agent.tools)
        for target in agent.handoffs:
            definitions.append(
                {
                    "type": "function",
                    "name": HANDOFF_PREFIX + target,
                    "description": f"Transfer the caller to the {target} agent. "
                    + self.agents[target].description,
                    "parameters": {"type": "object", "properties": {}},
                }
            )
        return definitions


def load_catalog(registry: ToolRegistry, path: Path | None = None) -> AgentCatalog:
    """Read and check the agents file (the bundled one by default)."""
    if path is None:
        text = resources.files("app.agents").joinpath("agents.toml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"the agents file is not valid TOML: {exc}") from None
    return parse_catalog(data, registry)


def parse_catalog(data: Mapping[str, Any], registry: ToolRegistry) -> AgentCatalog:
    raw_agents = data.get("agents")
    if not isinstance(raw_agents, dict) or not raw_agents:
        raise CatalogError("the agents file must define at least one [agents.NAME] table")
    agents = {name: _agent(name, fields) for name, fields in raw_agents.items()}
    for agent in agents.values():
        for tool in agent.tools:
            if registry.get(tool) is None:
                raise CatalogError(f"agent {agent.name!r} uses unknown tool {tool!r}")
        for target in agent.handoffs:
            if target not in agents or target == agent.name:
                raise CatalogError(f"agent {agent.name!r} hands off to unknown agent {target!r}")
    initial = data.get("initial_agent", "root")
    if initial not in agents:
        raise CatalogError(f"initial_agent {initial!r} is not defined")
    return AgentCatalog(agents=agents, initial_agent=initial, registry=registry)


def _agent(name: str, fields: Any) -> Agent:
    if not _NAME.fullmatch(name):
        raise CatalogError(f"agent name {name!r} must be a lowercase identifier")
    if not isinstance(fields, dict):
        raise CatalogError(f"[agents.{name}] must be a table")
    instructions = fields.get("instructions")
    if not isinstance(instructions, str) or not instructions.strip():
        raise CatalogError(f"agent {name!r} needs non-empty instructions")
    return Agent(
        name=name,
        description=str(fields.get("description", "")).strip(),
        instructions=instructions.strip(),
        tools=_names(name, "tools", fields.get("tools", [])),
        handoffs=_names(name, "handoffs", fields.get("handoffs", [])),
    )


def _names(agent: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogError(f"agent {agent!r}: {key} must be a list of names")
    return tuple(value)
