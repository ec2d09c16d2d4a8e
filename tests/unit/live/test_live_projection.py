"""The live board's projection of a call: event sequences in, lines and states out (no I/O)."""

from __future__ import annotations

from typing import Any

from app.live.projection import CallProjection, Interrupted, Line, Update, snapshot_lines
from app.record.tracker import ConversationRecord, Message


def upstream(projection: CallProjection, *events: dict[str, Any]) -> list[Update]:
    """Feed events the way the call's feed does: state first, then lines."""
    updates: list[Update] = []
    for event in events:
        projection.follow_state(event.get("type"))
        updates += projection.observe_upstream(event)
    return updates


def assistant_turn(item_id: str, text: str) -> list[dict[str, Any]]:
    return [
        {"type": "response.created", "response": {"id": "resp-1"}},
        {
            "type": "response.output_item.added",
            "item": {"id": item_id, "type": "message", "role": "assistant"},
        },
        {"type": "response.output_audio_transcript.delta", "item_id": item_id, "delta": "Hel"},
        {"type": "response.output_audio_transcript.done", "item_id": item_id, "transcript": text},
        {"type": "response.done", "response": {"id": "resp-1", "status": "completed"}},
    ]


def test_spoken_turns_become_lines_as_their_transcripts_complete() -> None:
    projection = CallProjection()
    heard = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item-u1",
        "transcript": " I need help. ",
    }
    updates = upstream(projection, heard, *assistant_turn("item-a1", "Sure, how can I help?"))
    assert updates == [
        Line("user", "I need help.", "item-u1"),
        Line("assistant", "Sure, how can I help?", "item-a1"),
    ]


def test_beta_names_and_text_responses_count_too() -> None:
    projection = CallProjection()
    updates = upstream(
        projection,
        {"type": "response.audio_transcript.done", "item_id": "a", "transcript": "Beta voice"},
        {"type": "response.output_text.done", "item_id": "b", "text": "GA text"},
        {"type": "response.text.done", "item_id": "c", "text": "  "},  # blank: no line
    )
    assert updates == [Line("assistant", "Beta voice", "a"), Line("assistant", "GA text", "b")]


def test_typed_user_messages_come_from_the_client_event() -> None:
    projection = CallProjection()
    create: dict[str, Any] = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello"}, {"type": "input_audio"}],
        },
    }
    with_id = {**create, "item": {**create["item"], "id": "mine"}}
    system = {"type": "conversation.item.create", "item": {"type": "message", "role": "system"}}
    assert projection.observe_client(create) == [Line("user", "Hello", "client-0")]
    assert projection.observe_client(with_id) == [Line("user", "Hello", "mine")]
    assert projection.observe_client(system) == []
    assert projection.observe_client({"type": "response.create"}) == []


def test_states_follow_responses_tools_and_the_caller() -> None:
    projection = CallProjection()
    seen = []
    for kind in (
        "response.created",
        "response.output_audio_transcript.delta",  # not a state event
        "response.done",
        "response.created",
        "response.function_call_arguments.done",
        "response.done",  # the tool still runs
        "input_audio_buffer.speech_started",  # still running
        "response.created",  # the model answers with the tool's output
        "input_audio_buffer.speech_started",
    ):
        moved = projection.follow_state(kind)
        seen.append((projection.state, moved))
    assert seen == [
        ("speaking", True),
        ("speaking", False),
        ("listening", True),
        ("speaking", True),
        ("tool", True),
        ("tool", False),
        ("tool", False),
        ("speaking", True),
        ("listening", True),
    ]


def test_tool_calls_and_hand_offs_are_shown_with_names_from_their_items() -> None:
    projection = CallProjection()
    updates = upstream(
        projection,
        {
            "type": "response.output_item.added",
            "item": {"id": "fc1", "type": "function_call", "name": "lookup_order"},
        },
        {"type": "response.function_call_arguments.done", "item_id": "fc1", "call_id": "c1"},
        {"type": "response.function_call_arguments.done", "name": "transfer_to_billing"},
        {"type": "response.function_call_arguments.done", "item_id": "fc9"},
    )
    assert updates == [
        Line("tool", "Tool call: lookup_order", "fc1"),
        Line("handoff", "Hand-off to billing", "call-0"),
        Line("tool", "Tool call: unnamed function", "fc9"),
    ]
    assert projection.state == "tool"


def test_interruptions_by_truncation_or_by_speaking_over_a_reply() -> None:
    projection = CallProjection()
    turn = assistant_turn("a1", "A long answer")
    updates = upstream(projection, *turn[:3], {"type": "input_audio_buffer.speech_started"})
    assert updates == [Interrupted("a1")]
    assert projection.state == "listening"
    # Speaking again after the reply was generated interrupts nothing by itself ...
    updates = upstream(projection, *turn, {"type": "input_audio_buffer.speech_started"})
    assert updates == [Line("assistant", "A long answer", "a1")]
    # ... the client's truncate (the voice client sends one on barge-in) does.
    truncate = {"type": "conversation.item.truncate", "item_id": "a1", "audio_end_ms": 300}
    assert projection.observe_client(truncate) == [Interrupted("a1")]
    assert upstream(projection, {**truncate, "type": "conversation.item.truncated"}) == [
        Interrupted("a1")
    ]


def test_texts_go_through_scrub() -> None:
    projection = CallProjection(scrub=lambda text: text.replace("4111", "[card]"))
    heard = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "u",
        "transcript": "card 4111",
    }
    assert upstream(projection, heard) == [Line("user", "card [card]", "u")]


def test_malformed_events_are_ignored() -> None:
    projection = CallProjection()
    assert (
        upstream(
            projection,
            {"type": 7},
            {"type": "response.output_audio_transcript.done", "transcript": ["no"]},
            {"type": "response.output_item.added", "item": "not an object"},
            {"type": "conversation.item.truncated"},
            {"type": "conversation.item.input_audio_transcription.completed"},
        )
        == []
    )
    assert projection.observe_client({"type": "conversation.item.create", "item": []}) == []


def test_snapshot_shows_the_record_so_far_without_the_reply_in_progress() -> None:
    record = ConversationRecord(
        messages=(
            Message("user", "Hi there", False),
            Message("assistant", "Hello, this is", True),
            Message("user", "Card 4111", False),
            Message("assistant", "One mom", False),
        ),
        interruptions=1,
        tools_called=("lookup_order",),
        agents_used=("root", "billing"),
        initial_agent="root",
    )
    scrub = str.upper
    speaking = snapshot_lines(record, True, scrub)
    assert [(line.kind, line.text, line.interrupted) for line in speaking] == [
        ("user", "HI THERE", False),
        ("assistant", "HELLO, THIS IS", True),
        ("user", "CARD 4111", False),
        ("note", "Before you joined: tools lookup_order; hand-offs to billing", False),
    ]
    assert len(snapshot_lines(record, False, scrub)) == 5


def test_a_reply_is_pending_from_its_response_until_its_transcript_completes() -> None:
    projection = CallProjection()
    turn = assistant_turn("a1", "Done")
    pending = []
    for event in turn:
        projection.follow_state(event["type"])
        pending.append(projection.reply_pending)
    assert pending == [True, True, True, False, False]
    projection.follow_state("response.created")
    projection.follow_state("response.done")  # cancelled before any transcript
    assert not projection.reply_pending
