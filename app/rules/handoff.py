"""What a hand-off looks like on the wire: one definition for the catalogue and the tracker.

The model asks for a hand-off by calling the function ``transfer_to_<agent>``.  A request is not
a hand-off: the relay performs it only if the agent exists (`AgentCatalog.handoff_target`) and
then tells the tracker (`ConversationTracker.observe_handoff`).  The tracker needs the name form
only to tell such requests from tool calls.  Pure: no I/O, no imports of the relay.
"""

from __future__ import annotations

__all__ = ["HANDOFF_PREFIX", "requested_agent"]

HANDOFF_PREFIX = "transfer_to_"


def requested_agent(function_name: str) -> str | None:
    """The agent a function call named ``function_name`` asks for, or None for a tool call."""
    if function_name.startswith(HANDOFF_PREFIX):
        return function_name[len(HANDOFF_PREFIX) :]
    return None
