"""The document's ``recording`` object: built by the document builder, checked like the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.record.document import build_document, document_id
from app.record.tracker import ConversationTracker
from app.recording.field import recording_field, recording_name
from app.rules.dialect import Dialect
from app.rules.reasons import DisconnectReason
from tests.support.document_checks import check_document

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def tracker_with_a_message() -> ConversationTracker:
    tracker = ConversationTracker(dialect=Dialect.GA, initial_agent="triage")
    tracker.observe_client(
        {
            "type": "conversation.item.create",
            "item": {
                "id": "u1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello"}],
            },
        },
        0.0,
    )
    return tracker


def test_complete_only_without_a_crash_and_without_gaps() -> None:
    def field(cut: bool, gaps: int) -> bool:
        made = recording_field(name="a.wav", where="local", seconds=1.0, cut_by_crash=cut,
                               gaps=gaps)  # fmt: skip
        return bool(made["complete"])

    assert field(False, 0)
    assert not field(True, 0)
    assert not field(False, 2)


def test_the_document_carries_the_recording_and_passes_every_check() -> None:
    name = recording_name(document_id("s1", START))
    field = recording_field(name=name, where="blob", seconds=12.3456, cut_by_crash=False, gaps=1)
    document = build_document(
        tracker_with_a_message().record(),
        session_id="s1",
        customer_id="c1",
        start=START,
        end=START + timedelta(seconds=13),
        reason=DisconnectReason.USER_HANGUP,
        recording=field,
    )
    assert document is not None
    assert document["recording"] == {
        "name": "ai_conv_s1_20261206T120000Z.wav", "where": "blob", "format": "audio/wav",
        "seconds": 12.346, "complete": False, "cut_by_crash": False, "gaps": 1,
    }  # fmt: skip
    check_document(document)
    unrecorded = build_document(
        tracker_with_a_message().record(),
        session_id="s1",
        customer_id="c1",
        start=START,
        end=START,
        reason=DisconnectReason.USER_HANGUP,
    )
    assert unrecorded is not None and "recording" not in unrecorded
