"""The conversation document: the seed's schema field for field, plus schema_version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.document import SCHEMA_VERSION, DisconnectReason, build_document, document_id
from app.tracker import ConversationRecord, Message

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
