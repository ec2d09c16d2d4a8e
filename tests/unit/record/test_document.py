"""The conversation document: the seed's schema field for field, plus schema_version."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.record.document import (
    COSMOS_ITEM_LIMIT_BYTES,
    CUT_MARKER,
    DOCUMENT_BUDGET_BYTES,
    MAX_MESSAGE_CHARS,
    SCHEMA_VERSION,
    TRUNCATION_REASON,
    build_document,
    document_id,
    encoded_size,
)
from app.record.tracker import ConversationRecord, ConversationTracker, Message
from app.rules.channels import Channel
from app.rules.reasons import DisconnectReason

START = datetime(2026, 11, 25, 15, 33, 0, 123456, tzinfo=UTC)
END = START + timedelta(seconds=95, microseconds=654321)

RECORD = ConversationRecord(
    messages=(
        Message(sender="user", message="Where is my order?", interrupted=False),
        Message(sender="assistant", message="It shipped", interrupted=True),
        Message(sender="user", message="Thanks.", interrupted=False),
    ),
    interruptions=1,
    tools_called=("lookup_order",),
    agents_used=("root", "sales"),
    initial_agent="root",
)


def build(**overrides: object) -> dict[str, object] | None:
    arguments: dict[str, object] = {
        "session_id": "3f2a9c",
        "customer_id": "cust-42",
        "start": START,
        "end": END,
        "reason": DisconnectReason.USER_HANGUP,
    } | overrides
    return build_document(RECORD, **arguments)  # type: ignore[arg-type]


def test_fields_exactly() -> None:
    assert build() == {
        "id": "ai_conv_3f2a9c_20261125T153300Z",
        "conversation_id": "3f2a9c",
        "customer_id": "cust-42",
        "agent_type": "AI",
        "session_start": "2026-11-25T15:33:00.123456+00:00",
        "session_end": "2026-11-25T15:34:35.777777+00:00",
        "duration_seconds": 95.654,
        "disconnect_reason": "user_hangup",
        "graceful_disconnect": True,
        "messages": [
            {"sender": "user", "message": "Where is my order?", "interrupted": False},
            {"sender": "assistant", "message": "It shipped", "interrupted": True},
            {"sender": "user", "message": "Thanks.", "interrupted": False},
        ],
        "metadata": {
            "total_messages": 3,
            "user_messages": 2,
            "assistant_messages": 1,
            "interruptions": 1,
            "agents_used": ["root", "sales"],
            "tools_called": ["lookup_order"],
            "initial_agent": "root",
        },
        "schema_version": SCHEMA_VERSION,
        "channel": "web",
        "redactions": {"card": 0, "email": 0, "phone": 0, "iban": 0},
    }
    assert SCHEMA_VERSION == 1


def test_id_is_deterministic_for_a_call() -> None:
    later = build(end=END + timedelta(minutes=5), reason=DisconnectReason.SERVER_CRASH)
    assert later is not None and build() is not None
    assert later["id"] == build()["id"] == document_id("3f2a9c", START)  # type: ignore[index]
    assert document_id("other", START) != document_id("3f2a9c", START)
    assert document_id("3f2a9c", START + timedelta(seconds=1)) != document_id("3f2a9c", START)


def test_times_in_other_zones_are_stored_in_utc() -> None:
    oslo = timezone(timedelta(hours=1))
    document = build(start=START.astimezone(oslo), end=END.astimezone(oslo))
    assert document is not None
    assert document["session_start"] == "2026-11-25T15:33:00.123456+00:00"
    assert document["id"] == "ai_conv_3f2a9c_20261125T153300Z"


@pytest.mark.parametrize("reason", list(DisconnectReason), ids=str)
def test_graceful_only_for_user_hangup(reason: DisconnectReason) -> None:
    document = build(reason=reason)
    assert document is not None
    assert document["disconnect_reason"] == reason.value
    assert document["graceful_disconnect"] is (reason is DisconnectReason.USER_HANGUP)
    assert reason.graceful is (reason.value == "user_hangup")


def test_reason_values_are_the_contract() -> None:
    assert {reason.value for reason in DisconnectReason} == {
        "user_hangup", "client_gone", "connection_lost", "idle_timeout", "upstream_closed",
        "upstream_error", "upstream_unavailable", "server_shutdown", "max_duration",
        "protocol_error", "server_crash",
    }  # fmt: skip


@pytest.mark.parametrize("customer_id", [None, ""])
def test_anonymous_customer(customer_id: str | None) -> None:
    document = build(customer_id=customer_id)
    assert document is not None
    assert document["customer_id"] == "anonymous"


def test_no_messages_no_document() -> None:
    empty = ConversationRecord(
        messages=(),
        interruptions=2,
        tools_called=("x",),
        agents_used=("root",),
        initial_agent="root",
    )
    document = build_document(
        empty,
        session_id="s",
        customer_id="c",
        start=START,
        end=END,
        reason=DisconnectReason.CLIENT_GONE,
    )
    assert document is None


def test_end_before_start_is_zero_duration() -> None:
    document = build(end=START - timedelta(seconds=3))
    assert document is not None
    assert document["duration_seconds"] == 0.0


@pytest.mark.parametrize("which", ["start", "end"])
def test_naive_datetimes_are_a_programming_error(which: str) -> None:
    with pytest.raises(ValueError, match=which):
        build(**{which: datetime(2026, 11, 25, 15, 33)})


@pytest.mark.parametrize("session_id", ["", "a/b", "a#b", "a?b", "a\\b"])
def test_session_ids_that_cannot_make_an_id(session_id: str) -> None:
    with pytest.raises(ValueError, match="session id"):
        document_id(session_id, START)


def test_lone_surrogates_are_replaced_so_the_document_encodes() -> None:
    record = ConversationRecord(
        messages=(Message(sender="user", message="a\ud800b \udc00", interrupted=False),),
        interruptions=0,
        tools_called=("look\udfffup",),
        agents_used=("root",),
        initial_agent="root",
    )
    document = build_document(
        record,
        session_id="s",
        customer_id="c",
        start=START,
        end=END,
        reason=DisconnectReason.USER_HANGUP,
    )
    assert document is not None
    assert document["messages"][0]["message"] == "a\ufffdb \ufffd"
    assert document["metadata"]["tools_called"] == ["look\ufffdup"]
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # would raise before


# -- the item size rule ----------------------------------------------------------------------

#: Multi-byte text on purpose: 2-, 3- and 4-byte UTF-8 characters, 6 or 12 bytes escaped.
DENSE_WORDS = "Bestellung Nr. 12345 ist unterwegs, Lieferung am Freitag. café 東京 注文 😀 "


def utf8_size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def talk(turns: list[tuple[float, str, str]]) -> ConversationTracker:
    """A tracker that heard ``(at, user text, assistant reply)`` turns, as in a GA call."""
    tracker = ConversationTracker()
    previous = None
    for number, (at, said, answer) in enumerate(turns):
        user_id, assistant_id = f"item_U{number}", f"item_A{number}"
        for item_id, role in ((user_id, "user"), (assistant_id, "assistant")):
            item = {"id": item_id, "type": "message", "role": role, "content": []}
            added = {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
            tracker.observe_upstream(added, at)
            previous = item_id
        transcribed = {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": user_id,
            "content_index": 0,
            "transcript": said,
        }
        tracker.observe_upstream(transcribed, at + 0.5)
        done = {
            "type": "response.output_audio_transcript.done",
            "item_id": assistant_id,
            "content_index": 0,
            "transcript": answer,
        }
        tracker.observe_upstream(done, at + 1.0)
    return tracker


def hour_document(tracker: ConversationTracker) -> dict[str, Any]:
    document = build_document(
        tracker.record(),
        session_id="dense",
        customer_id="cust-42",
        start=START,
        end=START + timedelta(seconds=3600),
        reason=DisconnectReason.MAX_DURATION,
    )
    assert document is not None
    return document


def test_an_hour_of_dense_talk_fits_the_item_limit_with_margin() -> None:
    # Two long messages every 3 seconds for CALL_MAX_DURATION's default hour: 2,400 messages
    # of 1,500 characters, about 4.5 MB of UTF-8 JSON as they were said.
    text = (DENSE_WORDS * 30)[:1500]
    tracker = talk([(at, f"{at:.0f}: {text}", f"{at:.0f}: {text}") for at in range(0, 3600, 3)])
    record = tracker.record()
    assert len(record.messages) == 2400
    said = [
        {"sender": m.sender, "message": m.message, "interrupted": False} for m in record.messages
    ]
    assert utf8_size({"messages": said}) > 2 * COSMOS_ITEM_LIMIT_BYTES

    document = hour_document(tracker)

    assert utf8_size(document) <= encoded_size(document) <= DOCUMENT_BUDGET_BYTES
    assert DOCUMENT_BUDGET_BYTES < COSMOS_ITEM_LIMIT_BYTES // 2  # the margin
    truncated = document["truncated"]
    kept = document["messages"]
    assert truncated["reason"] == TRUNCATION_REASON
    assert truncated["messages_shortened"] == 0
    assert truncated["messages_dropped"] == 2400 - len(kept) > 0
    # The opening and the end are kept, in order, and the gap is where the marker says.
    assert kept[0]["message"].startswith("0: ") and kept[-1]["message"].startswith("3597: ")
    gap = truncated["dropped_at"]
    assert [m["message"] for m in kept[:gap]] == [m["message"] for m in said[:gap]]
    assert [m["message"] for m in kept[gap:]] == [m["message"] for m in said[-len(kept) + gap :]]
    assert 0.4 < gap / len(kept) < 0.6  # about half the room each
    # Metadata still describes the whole call.
    assert document["metadata"]["total_messages"] == 2400
    assert document["metadata"]["user_messages"] == document["metadata"]["assistant_messages"]


def test_a_long_normal_call_is_untouched() -> None:
    # An hour of brisk speech: a 200-character turn from each side every 8 seconds.
    sentence = ("Could you check when my order arrives, and whether it can go to the office? ")[
        :200
    ]
    tracker = talk([(at, sentence, sentence) for at in range(0, 3600, 8)])
    document = hour_document(tracker)
    assert "truncated" not in document
    assert len(document["messages"]) == document["metadata"]["total_messages"] == 900
    assert [m["message"] for m in document["messages"]] == [
        m.message for m in tracker.record().messages
    ]
    assert encoded_size(document) < DOCUMENT_BUDGET_BYTES // 4


def document_of(*messages: Message) -> dict[str, Any]:
    """The document of a hung-up call that said ``messages``."""
    record = ConversationRecord(
        messages=messages,
        interruptions=sum(1 for message in messages if message.interrupted),
        tools_called=(),
        agents_used=("root",),
        initial_agent="root",
    )
    document = build_document(
        record,
        session_id="s",
        customer_id="c",
        start=START,
        end=END,
        reason=DisconnectReason.USER_HANGUP,
    )
    assert document is not None
    return document


def test_an_overlong_message_is_cut_with_a_visible_marker() -> None:
    pasted = "word " * 50_000  # 250,000 characters pasted into a text item
    document = document_of(
        Message(sender="user", message=pasted.strip(), interrupted=False),
        Message(sender="assistant", message="That is a lot of words.", interrupted=False),
    )
    first, second = document["messages"]
    assert len(first["message"]) <= MAX_MESSAGE_CHARS
    assert first["message"].endswith(CUT_MARKER) and pasted.startswith(first["message"][:-5])
    assert second["message"] == "That is a lot of words."
    assert document["truncated"] == {
        "reason": TRUNCATION_REASON,
        "limit_bytes": DOCUMENT_BUDGET_BYTES,
        "messages_shortened": 1,
        "messages_dropped": 0,
        "dropped_at": None,
    }
    assert document["metadata"]["total_messages"] == 2


@pytest.mark.parametrize("channel", list(Channel))
def test_channel_says_how_the_caller_came_in(channel: Channel) -> None:
    document = build(channel=channel)
    assert document is not None and document["channel"] == channel.value


def test_what_the_model_said_is_stored_beside_what_was_heard_redacted_and_bounded() -> None:
    said = "Your card 4111 1111 1111 1111 is on file and " + "more " * 3_000
    document = document_of(
        Message(sender="assistant", message="Your card", interrupted=True, said=said.strip())
    )
    [message] = document["messages"]
    assert message["message"] == "Your card"
    assert message["said"].startswith("Your card [card] is on file")
    assert message["said"].endswith(CUT_MARKER) and len(message["said"]) == MAX_MESSAGE_CHARS
    assert document["truncated"]["messages_shortened"] == 1


def test_a_message_heard_whole_has_no_said_field() -> None:
    document = build()
    assert document is not None
    messages = document["messages"]
    assert isinstance(messages, list) and messages
    assert all("said" not in message for message in messages)
