"""The agents a call can be handled by, defined as data (agents.toml)."""

from __future__ import annotations

from app.agents.catalog import (
    Agent,
    AgentCatalog,
    CatalogError,
    load_catalog,
)
from app.rules.handoff import HANDOFF_PREFIX

__all__ = ["HANDOFF_PREFIX", "Agent", "AgentCatalog", "CatalogError", "load_catalog"]
