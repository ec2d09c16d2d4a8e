"""Conversation documents for tests, built the way the relay builds them.

:func:`make_document` runs :func:`app.record.document.build_document` on a small
:class:`ConversationRecord`, so a test's document has every field a real one has (ids, times,
metadata, redaction counts) and follows the builder when its shape changes.  Tests about
malformed or foreign documents write their dicts by hand instead, and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.record.document import build_document
from app.record.tracker import ConversationRecord, Message, Sender
from app.rules.reasons import DisconnectReason

#: The start of the calls tests make, unless they say otherwise.
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
#: A short exchange: one caller line and one answer.
EXCHANGE: tuple[tuple[Sender, str], ...] = (
    ("user", "hello"),
    ("assistant", "Hello! How can I help?"),
)


def conversation(
    said: Sequence[tuple[Sender, str]] = EXCHANGE,
    *,
    interrupted: int = 0,
    tools: Sequence[str] = (),
    agents: Sequence[str] = ("assistant",),
) -> ConversationRecord:
    """A tracker snapshot of ``said``; the first ``interrupted`` assistant messages were cut off."""
    messages: list[Message] = []
    left = interrupted
    for sender, text in said:
        cut = sender == "assistant" and left > 0
        left -= cut
        messages.append(Message(sender=sender, message=text, interrupted=cut))
    assert left == 0, "more interruptions than assistant messages"
    return ConversationRecord(
        messages=tuple(messages),
        interruptions=interrupted,
        tools_called=tuple(tools),
        agents_used=tuple(agents),
        initial_agent=agents[0],
    )


def make_document(
    customer_id: str = "cust-1",
    doc_id: str | None = None,
    start: datetime = BASE,
    *,
    session_id: str = "s1",
    record: ConversationRecord | None = None,
    duration: timedelta = timedelta(minutes=1),
    reason: DisconnectReason = DisconnectReason.USER_HANGUP,
    **overrides: Any,
) -> dict[str, Any]:
    """The document the relay would store for a call of ``record`` (a short exchange by default).

    ``doc_id`` replaces the id the builder derives from ``session_id`` and ``start``: store tests
    choose ids to make ties (one id for two customers, several calls in one second).
    ``overrides`` replace top-level fields, for what a test sets on purpose.
    """
    document = build_document(
        conversation() if record is None else record,
        session_id=session_id,
        customer_id=customer_id,
        start=start,
        end=start + duration,
        reason=reason,
    )
    assert document is not None, "a call without messages has no document"
    if doc_id is not None:
        document["id"] = doc_id
    return {**document, **overrides}
