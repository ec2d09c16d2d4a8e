"""The Twilio dialect: Twilio's documented messages in, Realtime events and Twilio messages out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.phone.dialect import ToCaller
from app.phone.twilio_media import (
    MAX_PENDING_MARKS,
    BadStream,
    StreamStart,
    TwilioMedia,
    parse_start,
)
from app.rules.channels import Channel
from app.rules.frames import is_plain_audio_append
from tests.support.twilio_messages import (
    SID,
    SPEECH_STARTED,
    ULAW_20MS,
    delta,
    mark_echo,
    media,
    start_message,
)


def sent(result: ToCaller) -> list[dict[str, Any]]:
    return [json.loads(text) for text in result.to_caller]


def test_the_handshake() -> None:
    assert parse_start('{"event": "connected", "protocol": "Call", "version": "1.0.0"}') is None
    assert parse_start(start_message()) == StreamStart(SID, "CA1", {"token": "t0k"})


@pytest.mark.parametrize(
    "text",
    [
        "nonsense",
        '{"event": "media"}',
        start_message(mediaFormat={"encoding": "audio/x-alaw"}),
        start_message(callSid=""),
        json.dumps({"event": "start"}),
    ],
)
def test_a_handshake_that_is_not_twilio_s(text: str) -> None:
    with pytest.raises(BadStream):
        parse_start(text)


def test_the_caller_s_audio_becomes_a_plain_append() -> None:
    dialect = TwilioMedia(SID)
    assert dialect.channel is Channel.TWILIO
    result = dialect.from_caller(media(), 0.0)
    assert not result.hung_up
    (event,) = result.to_model
    assert is_plain_audio_append(event)
    assert json.loads(event) == {"type": "input_audio_buffer.append", "audio": ULAW_20MS}


@pytest.mark.parametrize("payload", ['x"}, {"type": "session.update', "###", "a" * 5 + "\\"])
def test_a_payload_that_is_not_base64_is_dropped_and_counted(payload: str) -> None:
    dialect = TwilioMedia(SID)
    assert dialect.from_caller(media(payload), 0.0).to_model == ()
    assert dialect.bad_frames == 1


def test_stop_is_a_hang_up_and_other_messages_mean_nothing_to_the_model() -> None:
    dialect = TwilioMedia(SID)
    stop = {"event": "stop", "sequenceNumber": "9", "streamSid": SID, "stop": {"callSid": "CA1"}}
    assert dialect.from_caller(json.dumps(stop), 0.0).hung_up
    dtmf = {"event": "dtmf", "streamSid": SID, "dtmf": {"track": "inbound_track", "digit": "7"}}
    assert dialect.from_caller(json.dumps(dtmf), 0.0).to_model == ()
    assert dialect.digits == "7"
    assert dialect.from_caller("[1, 2]", 0.0).to_model == ()


@pytest.mark.parametrize("ga", [True, False])
def test_model_audio_becomes_media_and_a_mark(ga: bool) -> None:
    dialect = TwilioMedia(SID)
    text = delta("item_a", 100, ga=ga)
    media_out, mark = sent(dialect.from_model(text, 0.0))
    assert media_out == {
        "event": "media",
        "streamSid": SID,
        "media": {"payload": json.loads(text)["delta"]},
    }
    assert mark["event"] == "mark" and mark["streamSid"] == SID and mark["mark"]["name"]


def test_audio_in_another_layout_is_read_in_full() -> None:
    dialect = TwilioMedia(SID)
    event = json.loads(delta("item_a", 20))
    spaced = json.dumps(event, indent=1)
    media_out, _ = sent(dialect.from_model(spaced, 0.0))
    assert media_out["media"]["payload"] == event["delta"]


def test_other_model_events_do_not_reach_the_phone() -> None:
    dialect = TwilioMedia(SID)
    for event in [
        {"type": "session.created", "session": {}},
        {"type": "response.output_audio_transcript.delta", "item_id": "a", "delta": "Hi"},
        {"type": "response.done", "response": {"status": "completed"}},
    ]:
        assert dialect.from_model(json.dumps(event), 0.0) == ToCaller()


def test_barge_in_clears_playback_and_truncates_at_the_last_mark_played() -> None:
    dialect = TwilioMedia(SID)
    marks = [
        sent(dialect.from_model(delta("item_a", 100), 0.0))[1]["mark"]["name"] for _ in range(3)
    ]
    dialect.from_caller(mark_echo(marks[0]), 0.1)  # the first 100 ms have played
    result = dialect.from_model(SPEECH_STARTED, 0.15)
    assert sent(result) == [{"event": "clear", "streamSid": SID}]
    assert [json.loads(event) for event in result.to_model] == [
        {
            "type": "conversation.item.truncate",
            "item_id": "item_a",
            "content_index": 0,
            "audio_end_ms": 100,
        }
    ]
    # Twilio may echo the cleared marks: they were never heard.
    dialect.from_caller(mark_echo(marks[2]), 0.2)
    assert not dialect.playback.playing
    assert dialect.from_model(SPEECH_STARTED, 0.3) == ToCaller()


def test_speech_after_the_reply_has_played_cuts_nothing() -> None:
    dialect = TwilioMedia(SID)
    name = sent(dialect.from_model(delta("item_a", 100), 0.0))[1]["mark"]["name"]
    dialect.from_caller(mark_echo(name), 0.1)
    assert dialect.from_model(SPEECH_STARTED, 0.5) == ToCaller()


def test_marks_never_echoed_are_bounded() -> None:
    dialect = TwilioMedia(SID)
    for _ in range(MAX_PENDING_MARKS + 10):
        dialect.from_model(delta("item_a", 20), 0.0)
    assert len(dialect._marks) == MAX_PENDING_MARKS
