"""Build the stored conversation document from a tracker's record: pure functions, no I/O.

The document keeps the seed application's schema field for field (the admin API, analytics and
existing Cosmos DB data rely on it) and adds ``schema_version`` so that readers can tell future
shapes apart.  With PII redaction on (``REDACT_PII``, the default) every message text is passed
through `app.record.redaction.redact` as the document is built, so the unredacted text never reaches
the store, the spool or a checkpoint, and ``redactions`` counts what was replaced.  Only a call
far beyond any normal one changes shape: :func:`fit_item_limit` cuts it to fit Cosmos DB's item
size limit and marks it with a ``truncated`` object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.record.redaction import KINDS, redact
from app.record.tracker import ConversationRecord, Message
from app.rules.channels import Channel
from app.rules.reasons import DisconnectReason
from app.rules.text import well_formed

SCHEMA_VERSION = 1

#: Characters Cosmos DB refuses in an ``id`` (the store checks ids against the same set).
FORBIDDEN_ID_CHARACTERS = frozenset("/\\?#")

#: Cosmos DB refuses an item whose JSON is over 2 MB, its system properties included.
COSMOS_ITEM_LIMIT_BYTES = 2 * 1024 * 1024
#: The most a stored document may take, as :func:`encoded_size` counts it: under half the
#: limit, leaving room for Cosmos DB's system properties and keeping a write's request charge
#: sane. An hour of non-stop speech from both sides is about a tenth of it.
DOCUMENT_BUDGET_BYTES = 1_000_000
#: The longest message stored whole, in characters: about ten minutes of speech, far longer
#: than any spoken turn; only pasted or runaway text reaches it.
MAX_MESSAGE_CHARS = 8_000
#: Ends a message cut at :data:`MAX_MESSAGE_CHARS`, so that readers see the cut.
CUT_MARKER = " [\u2026]"
#: ``truncated.reason`` of a document :func:`fit_item_limit` had to cut.
TRUNCATION_REASON = "item_size_limit"


def document_id(session_id: str, start: datetime) -> str:
    """The document's id: ``ai_conv_{session_id}_{start as UTC %Y%m%dT%H%M%SZ}``.

    It depends only on the call, so every save of the same call (checkpoints, retries from the
    spool, the final save) is an idempotent upsert of one document.

    Raises ``ValueError`` for a naive ``start`` or a session id Cosmos DB cannot store in an id:
    both are programming errors, better found at once than at save time.
    """
    if not session_id or not FORBIDDEN_ID_CHARACTERS.isdisjoint(session_id):
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
    channel: Channel = Channel.WEB,
    recording: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The conversation document for one call, or ``None`` when it holds no messages.

    A call without messages writes no document (the caller logs and counts it). Times must be
    timezone-aware; they are stored in UTC. An ``end`` before ``start`` (a clock step) gives a
    duration of 0 rather than a negative one.  Text is made :func:`well_formed`.  With
    ``redact_pii`` (the default, so that no caller stores raw text by omission) message texts
    are redacted and the document gets ``redactions``: how many of each kind were replaced;
    without it the field is absent.  ``channel`` says how the caller came in (``web``, ``acs``,
    ``twilio``).  ``recording`` (``RECORD_CALLS``: the object
    `app.recording.field.recording_field` makes) is stored as ``recording``; absent when the
    call was not recorded.  The last step, :func:`fit_item_limit`, keeps any call within
    Cosmos DB's item size limit.
    """
    start_utc = _utc(start, "start")
    end_utc = _utc(end, "end")
    if not record.messages:
        return None
    messages = [_message(message) for message in record.messages]
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
            "agents_used": [well_formed(agent) for agent in record.agents_used],
            "tools_called": [well_formed(tool) for tool in record.tools_called],
            "initial_agent": well_formed(record.initial_agent),
        },
        "schema_version": SCHEMA_VERSION,
        "channel": channel.value,
    }
    if redactions is not None:
        document["redactions"] = redactions
    if recording is not None:
        document["recording"] = dict(recording)
    return fit_item_limit(document)


def _message(message: Message) -> dict[str, Any]:
    """One stored message; ``said`` (what the model said, when the listener heard less) only
    when the record has it."""
    stored: dict[str, Any] = {
        "sender": message.sender,
        "message": well_formed(message.message),
        "interrupted": message.interrupted,
    }
    if message.said is not None:
        stored["said"] = well_formed(message.said)
    return stored


def _redact_messages(messages: list[dict[str, Any]]) -> dict[str, int]:
    """Redact each message text (and ``said``) in place; how many of each kind were replaced
    in all (in the heard text: ``said`` repeats it)."""
    totals = dict.fromkeys(KINDS, 0)
    for message in messages:
        result = redact(message["message"])
        message["message"] = result.text
        for kind, count in result.counts.items():
            totals[kind] += count
        if "said" in message:
            message["said"] = redact(message["said"]).text
    return totals


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def encoded_size(document: Mapping[str, Any]) -> int:
    """The document's size in bytes as compact JSON, never less than any way it is sent.

    Non-ASCII characters are counted escaped (``\\u00e9``: 6 bytes where UTF-8 takes 2; an
    emoji as an escaped surrogate pair: 12 where UTF-8 takes 4), which is never less than
    their UTF-8 length: the figure bounds both the SDK's escaped request body and the UTF-8
    JSON the service measures and stores.
    """
    return len(json.dumps(document, separators=(",", ":"), allow_nan=False))


def fit_item_limit(
    document: dict[str, Any],
    *,
    budget: int = DOCUMENT_BUDGET_BYTES,
    max_message_chars: int = MAX_MESSAGE_CHARS,
) -> dict[str, Any]:
    """``document`` cut to fit Cosmos DB's item size limit; unchanged for any normal call.

    The rule, applied to the finished document (so it also bounds what earlier steps added):

    1. a message longer than ``max_message_chars`` keeps its beginning and ends with
       :data:`CUT_MARKER`;
    2. if the document is still over ``budget`` bytes (:func:`encoded_size`), messages are
       dropped from the middle of the conversation: the opening (why the caller called) keeps
       up to half of the room for messages, the end (how the call ended) the rest.

    ``metadata`` keeps describing the whole call (counts, interruptions) so analytics stay
    right, and a cut document says what is missing in ``truncated``: ``reason``,
    ``limit_bytes``, ``messages_shortened``, ``messages_dropped`` and ``dropped_at`` (the index
    in ``messages`` where the dropped ones were, ``None`` when none were dropped). Pure and
    idempotent: fitting a fitted document changes nothing.
    """
    marker_keeps = max(0, max_message_chars - len(CUT_MARKER))
    messages = []
    shortened = 0
    for message in document["messages"]:
        cut = {
            key: message[key][:marker_keeps].rstrip() + CUT_MARKER
            for key in ("message", "said")
            if len(message.get(key) or "") > max_message_chars
        }
        if cut:
            message = message | cut
            shortened += 1
        messages.append(message)
    if not shortened and encoded_size(document) <= budget:
        return document
    truncated: dict[str, Any] = {
        "reason": TRUNCATION_REASON,
        "limit_bytes": budget,
        "messages_shortened": shortened,
        # Stand-ins at least as long as the final values (``null`` included), so that the
        # room left for messages is measured with a marker no shorter than the final one.
        "messages_dropped": max(len(messages), 9999),
        "dropped_at": max(len(messages), 9999),
    }
    frame = encoded_size(document | {"messages": [], "truncated": truncated})
    keep_first, keep_from = _kept_ends(
        [encoded_size(message) + 1 for message in messages], budget - frame
    )
    dropped = keep_from - keep_first
    truncated |= {"messages_dropped": dropped, "dropped_at": keep_first if dropped else None}
    return document | {
        "messages": messages[:keep_first] + messages[keep_from:],
        "truncated": truncated,
    }


def _kept_ends(costs: list[int], room: int) -> tuple[int, int]:
    """Which messages fit in ``room`` bytes: ``messages[:first] + messages[from_:]``.

    ``costs`` are the messages' encoded sizes plus one for the comma between them. The opening
    takes up to half the room, the end whatever is left; when everything fits, ``first`` and
    ``from_`` meet.
    """
    used = 0
    first = 0
    while first < len(costs) and used + costs[first] <= room // 2:
        used += costs[first]
        first += 1
    from_ = len(costs)
    while from_ > first and used + costs[from_ - 1] <= room:
        used += costs[from_ - 1]
        from_ -= 1
    return first, from_
