"""The ACS media dialect: ACS messages in, Realtime client events out; model events in, ACS
messages out; a barge-in stops playback and truncates the reply where the clock says it stood."""

from __future__ import annotations

import base64
import json

import pytest

from app.phone.acs_media import STOP_AUDIO, AcsMedia, BadMedia, audio_data_message, parse_metadata
from app.rules.channels import Channel

METADATA = json.dumps(
    {
        "kind": "AudioMetadata",
        "audioMetadata": {
            "subscriptionId": "s",
            "encoding": "PCM",
            "sampleRate": 24000,
            "channels": 1,
            "length": 960,
        },
    }
)


def pcm(ms: int) -> str:
    """``ms`` of PCM16 24 kHz mono silence, base64."""
    return base64.b64encode(b"\x01\x00" * (24 * ms)).decode()


def audio_data(audio: str, *, silent: bool = False) -> str:
    return json.dumps(
        {
            "kind": "AudioData",
            "audioData": {
                "timestamp": "2026-12-06T12:00:00.000Z",
                "participantRawID": "4:+15551234567",
                "data": audio,
                "silent": silent,
            },
        }
    )


def delta(item_id: str, audio: str, *, ga: bool = True) -> str:
    kind = "response.output_audio.delta" if ga else "response.audio.delta"
    return json.dumps(
        {
            "type": kind,
            "event_id": "e",
            "response_id": "r",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": audio,
        }
    )


SPEECH_STARTED = json.dumps(
    {"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": "u2"}
)


def test_channel() -> None:
    assert AcsMedia().channel is Channel.ACS


def test_the_first_message_settles_the_format() -> None:
    assert parse_metadata(METADATA)["sampleRate"] == 24000
    pascal = json.dumps(
        {
            "Kind": "AudioMetadata",
            "AudioMetadata": {"Encoding": "PCM", "SampleRate": 24000, "Channels": 1},
        }
    )
    assert parse_metadata(pascal)["SampleRate"] == 24000


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("not json", "not a JSON object"),
        ("[1]", "not a JSON object"),
        (json.dumps({"kind": "AudioData", "audioData": {}}), "expected AudioMetadata first"),
        (json.dumps({"kind": "AudioMetadata"}), "without its 'audioMetadata'"),
        (METADATA.replace("24000", "16000"), "PCM at 16000 Hz"),
        (METADATA.replace('"PCM"', '"OPUS"'), "OPUS at 24000 Hz"),
        (METADATA.replace('"channels": 1', '"channels": 2'), "2 channel"),
    ],
)
def test_a_stream_in_another_format_is_refused(message: str, problem: str) -> None:
    with pytest.raises(BadMedia, match=problem):
        parse_metadata(message)


def test_caller_audio_becomes_an_append_of_the_same_base64() -> None:
    media = AcsMedia()
    assert media.from_caller(METADATA, 0.0).to_model == ()
    audio = pcm(20)
    [append] = media.from_caller(audio_data(audio), 0.0).to_model
    assert json.loads(append) == {"type": "input_audio_buffer.append", "audio": audio}
    # PascalCase, as ACS's own samples spell the outbound messages, reads the same.
    pascal = json.dumps({"Kind": "AudioData", "AudioData": {"Data": audio}})
    assert media.from_caller(pascal, 0.0).to_model == (append,)


def test_silent_packets_without_samples_and_dtmf_send_nothing() -> None:
    media = AcsMedia()
    assert media.from_caller(audio_data("", silent=True), 0.0).to_model == ()
    dtmf = json.dumps({"kind": "DtmfData", "dtmfData": {"data": "5"}})
    assert media.from_caller(dtmf, 0.0).to_model == ()


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1]",
        json.dumps({"kind": "VideoData"}),
        json.dumps({"kind": "AudioData"}),
        json.dumps({"kind": "AudioData", "audioData": {"data": 5}}),
        audio_data('A"}'),
    ],
)
def test_bad_messages_are_counted_and_dropped(message: str) -> None:
    media = AcsMedia()
    assert media.from_caller(message, 0.0).to_model == ()
    assert media.bad_frames == 1


def test_model_audio_becomes_outbound_audio_data_in_both_dialects() -> None:
    media = AcsMedia()
    audio = pcm(100)
    for ga in (True, False):
        [message] = media.from_model(delta("a1", audio, ga=ga), 0.0).to_caller
        assert message == audio_data_message(audio)
        assert json.loads(message) == {
            "kind": "AudioData",
            "audioData": {"data": audio},
            "stopAudio": None,
        }
    other = json.dumps({"type": "response.output_audio_transcript.delta", "delta": "hi"})
    assert media.from_model(other, 0.0).to_caller == ()


def test_barge_in_stops_playback_and_truncates_at_the_heard_part() -> None:
    media = AcsMedia()
    # 1 s of reply arrives at once at t=10: ACS plays it from 10.0 to 11.0.
    for _ in range(5):
        media.from_model(delta("a1", pcm(200)), 10.0)
    result = media.from_model(SPEECH_STARTED, 10.35)
    assert result.to_caller == (STOP_AUDIO,)
    assert json.loads(STOP_AUDIO) == {"kind": "StopAudio", "audioData": None, "stopAudio": {}}
    [truncate] = (json.loads(t) for t in result.to_model)
    assert truncate == {
        "type": "conversation.item.truncate",
        "item_id": "a1",
        "content_index": 0,
        "audio_end_ms": 350,
    }
    # The rest of the cut reply, still on its way from the model, never reaches the caller.
    assert media.from_model(delta("a1", pcm(200)), 10.4).to_caller == ()
    # A new reply plays again.
    assert media.from_model(delta("a2", pcm(200)), 11.0).to_caller != ()


def test_audio_that_arrives_slower_than_real_time_plays_when_it_arrives() -> None:
    media = AcsMedia()
    media.from_model(delta("a1", pcm(100)), 0.0)  # plays 0.0-0.1
    media.from_model(delta("a1", pcm(100)), 0.5)  # the buffer ran dry: plays 0.5-0.6
    result = media.from_model(SPEECH_STARTED, 0.55)
    [truncate] = (json.loads(t) for t in result.to_model)
    assert truncate["audio_end_ms"] == 150


def test_no_barge_in_when_playback_has_finished() -> None:
    media = AcsMedia()
    media.from_model(delta("a1", pcm(200)), 0.0)
    assert media.from_model(SPEECH_STARTED, 0.3).to_caller == ()
    assert media.from_model(SPEECH_STARTED, 0.3).to_model == ()
