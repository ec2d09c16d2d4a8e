"""Build the stored conversation document from a tracker's record: pure functions, no I/O.

The document keeps the seed application's schema field for field (the admin API, analytics and
existing Cosmos DB data rely on it) and adds ``schema_version`` so that readers can tell future
shapes apart.  With PII redaction on (``REDACT_PII``, the default) every message text is passed
through `app.redaction.redact` as the document is built, so the unredacted text never reaches
the store, the spool or a checkpoint, and ``redactions`` counts what was replaced.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from app.redaction import KINDS, redact
from app.tracker import ConversationRecord

SCHEMA_VERSION = 1

#: Characters Cosmos DB refuses in an ``id``.
_FORBIDDEN_ID_CHARS = frozenset("/\\?#")


class DisconnectReason(enum.StrEnum):
    """Why a call ended, as stored in ``disconnect_reason``."""

    USER_HANGUP = "user_hangup"
    CLIENT_GONE = "client_gone"
    CONNECTION_LOST = "connection_lost"
    IDLE_TIMEOUT = "idle_timeout"
    UPSTREAM_CLOSED = "upstream_closed"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    SERVER_SHUTDOWN = "server_shutdown"
    MAX_DURATION = "max_duration"
    PROTOCOL_ERROR = "protocol_error"
    SERVER_CRASH = "server_crash"

    @property
    def graceful(self) -> bool:
        """Only a hang-up (client close 1000) ends a call gracefully."""
        return self is DisconnectReason.USER_HANGUP


def document_id(session_id: str, start: datetime) -> str:
    """The document's id: ``ai_conv_{session_id}_{start as UTC %Y%m%dT%H%M%SZ}``.

    It depends only on the call, so every save of the same call (checkpoints, retries from the
    spool, the final save) is an idempotent upsert of one document.

    Raises ``ValueError`` for a naive ``start`` or a session id Cosmos DB cannot store in an id:
    both are programming errors, better found at once than at save time.
    """
    if not session_id or not _FORBIDDEN_ID_CHARS.isdisjoint(session_id):
        raise ValueError(f"session id {session_id!r} cannot be part of a document id")
    stamp = _utc(start, "start").strftime("%Y%m%dT%H%M%SZ")
    return f"ai_conv_{session_id}_{stamp}"


def build_document(
    record: ConversationRecord,
    *,
    session_id: str,
    customer_id: str | None,
    start: datetime,
    end: datetime,
    reason: DisconnectReason,
    redact_pii: bool = True,
) -> dict[str, Any] | None:
    """The conversation document for one call, or ``None`` when it holds no messages.

    A call without messages writes no document (the caller logs and counts it). Times must be
    timezone-aware; they are stored in UTC. An ``end`` before ``start`` (a clock step) gives a
    duration of 0 rather than a negative one.  With ``redact_pii`` (the default, so that no
    caller stores raw text by omission) message texts are redacted and the document gets
    ``redactions``: how many of each kind were replaced; without it the field is absent.
    """
    start_utc = _utc(start, "start")
    end_utc = _utc(end, "end")
    if not record.messages:
        return None
    messages = [
        {"sender": message.sender, "message": message.message, "interrupted": message.interrupted}
        for message in record.messages
    ]
    redactions = _redact_messages(messages) if redact_pii else None
    user_messages = sum(1 for message in record.messages if message.sender == "user")
    duration = max(0.0, (end_utc - start_utc).total_seconds())
    document: dict[str, Any] = {
        "id": document_id(session_id, start_utc),
        "conversation_id": session_id,
        "customer_id": customer_id or "anonymous",
        "agent_type": "AI",
        "session_start": start_utc.isoformat(),
        "session_end": end_utc.isoformat(),
        "duration_seconds": round(duration, 3),
        "disconnect_reason": reason.value,
        "graceful_disconnect": reason.graceful,
        "messages": messages,
        "metadata": {
            "total_messages": len(messages),
            "user_messages": user_messages,
            "assistant_messages": len(messages) - user_messages,
            "interruptions": record.interruptions,
            "agents_used": list(record.agents_used),
            "tools_called": list(record.tools_called),
            "initial_agent": record.initial_agent,
        },
        "schema_version": SCHEMA_VERSION,
    }
    if redactions is not None:
        document["redactions"] = redactions
    return document


def _redact_messages(messages: list[dict[str, Any]]) -> dict[str, int]:
    """Redact each message text in place; how many of each kind were replaced in all."""
    totals = dict.fromkeys(KINDS, 0)
    for message in messages:
        result = redact(message["message"])
        message["message"] = result.text
        for kind, count in result.counts.items():
            totals[kind] += count
    return totals


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)
