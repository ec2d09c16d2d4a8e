"""Every invariant of a stored conversation document, as one check: for property tests of the
document builder and the tracker, and for the documents tests build (tests/support/documents.py)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from app.record.document import (
    DOCUMENT_BUDGET_BYTES,
    MAX_MESSAGE_CHARS,
    SCHEMA_VERSION,
    TRUNCATION_REASON,
    document_id,
    encoded_size,
)
from app.record.redaction import KINDS
from app.recording.field import FIELD_KEYS
from app.rules.channels import Channel
from app.rules.reasons import DisconnectReason

DOCUMENT_KEYS = {
    "id", "conversation_id", "customer_id", "agent_type", "session_start", "session_end",
    "duration_seconds", "disconnect_reason", "graceful_disconnect", "messages", "metadata",
    "schema_version", "channel",
}  # fmt: skip
METADATA_KEYS = {
    "total_messages", "user_messages", "assistant_messages", "interruptions", "agents_used",
    "tools_called", "initial_agent",
}  # fmt: skip


def utf8_size(document: dict[str, Any]) -> int:
    """The size the service measures: compact JSON, UTF-8 (raises on text UTF-8 cannot take)."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_document(document: dict[str, Any], *, budget: int = DOCUMENT_BUDGET_BYTES) -> None:
    """Every invariant of a stored conversation document."""
    truncated = document.get("truncated")
    assert set(document) - {"truncated", "redactions", "recording"} == DOCUMENT_KEYS
    recording = document.get("recording")
    if recording is not None:  # RECORD_CALLS: where the recording is, how long, how whole
        assert set(recording) == FIELD_KEYS
        assert recording["name"] == document["id"] + ".wav"
        assert recording["where"] in ("blob", "local") and recording["format"] == "audio/wav"
        assert math.isfinite(recording["seconds"]) and recording["seconds"] >= 0
        assert recording["complete"] is (not recording["cut_by_crash"] and not recording["gaps"])
    redactions = document.get("redactions")
    if redactions is not None:  # REDACT_PII: how many of each kind were replaced
        assert set(redactions) == set(KINDS)
        assert all(isinstance(n, int) and n >= 0 for n in redactions.values())
    # Storable: strict JSON that UTF-8 takes, the same after a round trip, within the budget.
    text = json.dumps(document, allow_nan=False, ensure_ascii=False)
    assert json.loads(text.encode("utf-8")) == document
    assert utf8_size(document) <= encoded_size(document) <= budget
    # Identity and times.
    start = datetime.fromisoformat(document["session_start"])
    end = datetime.fromisoformat(document["session_end"])
    assert start.utcoffset() == end.utcoffset() == timedelta(0)
    assert document["id"] == document_id(document["conversation_id"], start)
    duration = document["duration_seconds"]
    assert math.isfinite(duration) and duration >= 0
    assert duration == round(max(0.0, (end - start).total_seconds()), 3)
    reason = DisconnectReason(document["disconnect_reason"])
    assert document["graceful_disconnect"] is reason.graceful
    assert document["agent_type"] == "AI" and document["customer_id"]
    assert document["schema_version"] == SCHEMA_VERSION
    assert Channel(document["channel"])
    # Messages.
    messages = document["messages"]
    for message in messages:
        assert set(message) - {"said"} == {"sender", "message", "interrupted"}
        assert message["sender"] in ("user", "assistant")
        # What was heard; a reply cut by a confirmed truncate also keeps what was said.
        assert isinstance(message["message"], str)
        assert message["message"] or message.get("said")
        assert len(message["message"]) <= MAX_MESSAGE_CHARS
        if "said" in message:
            assert message["sender"] == "assistant" and message["interrupted"]
            assert isinstance(message["said"], str) and len(message["said"]) <= MAX_MESSAGE_CHARS
        assert isinstance(message["interrupted"], bool)
        assert not (message["interrupted"] and message["sender"] == "user")
    # Counts match the messages (with those dropped by the size rule, if any).
    metadata = document["metadata"]
    assert set(metadata) == METADATA_KEYS
    dropped = 0 if truncated is None else truncated["messages_dropped"]
    users = sum(1 for message in messages if message["sender"] == "user")
    interrupted = sum(1 for message in messages if message["interrupted"])
    assert metadata["total_messages"] == len(messages) + dropped
    assert metadata["total_messages"] == metadata["user_messages"] + metadata["assistant_messages"]
    assert users <= metadata["user_messages"] <= users + dropped
    assert interrupted <= metadata["interruptions"] <= interrupted + dropped
    assert 0 <= metadata["interruptions"] <= metadata["assistant_messages"]
    assert metadata["agents_used"][0] == metadata["initial_agent"]
    for names in (metadata["agents_used"], metadata["tools_called"]):
        assert len(set(names)) == len(names) and all(isinstance(name, str) for name in names)
    if truncated is None:
        assert messages, "a document without messages is never written"
        return
    assert truncated["reason"] == TRUNCATION_REASON
    assert truncated["limit_bytes"] == budget
    assert truncated["messages_shortened"] >= 0 and dropped >= 0
    assert truncated["messages_shortened"] or dropped
    if dropped:
        assert 0 <= truncated["dropped_at"] <= len(messages)
    else:
        assert truncated["dropped_at"] is None


# -- random records -------------------------------------------------------------------------
