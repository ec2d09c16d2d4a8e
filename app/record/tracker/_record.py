"""The values the tracker hands out: immutable snapshots of a conversation."""

from __future__ import annotations

from typing import Literal

import attrs

Sender = Literal["user", "assistant"]


@attrs.frozen
class Message:
    """One message as the conversation document stores it."""

    sender: Sender
    #: What the listener heard: for an assistant reply cut by a truncate the model confirmed,
    #: the heard share of the text; otherwise the whole text.
    message: str
    interrupted: bool
    #: What the model said, when the heard text is shorter (a confirmed truncate); else None.
    #: The caller decides where playback stopped, so the record keeps both: a client cannot
    #: erase or shorten what the agent said.
    said: str | None = None


@attrs.frozen
class ConversationRecord:
    """A snapshot of a call's conversation: everything the document builder needs.

    It is a value (frozen, tuples only), so the relay can hand it to a checkpoint or a save
    while the tracker keeps changing.
    """

    messages: tuple[Message, ...]
    #: the interrupted messages: never more than the assistant messages.
    interruptions: int
    #: function-call names in order of first use, unique; hand-offs are not tools.
    tools_called: tuple[str, ...]
    #: the initial agent first, then each hand-off target in order, unique.
    agents_used: tuple[str, ...]
    initial_agent: str
