"""Server-side tools and the registry of the ones the demo agents use."""

from __future__ import annotations

from app.tools.orders import LOOKUP_ORDER
from app.tools.registry import Caller, Tool, ToolError, ToolRegistry

__all__ = ["Caller", "Tool", "ToolError", "ToolRegistry", "default_registry"]


def default_registry() -> ToolRegistry:
    """The tools the bundled agents (app/agents/agents.toml) may use."""
    registry = ToolRegistry()
    registry.register(LOOKUP_ORDER)
    return registry
