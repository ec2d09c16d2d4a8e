"""Spoken turns through the relay: transcripts, order, barge-in and truncation in the document.

The browser here sends real PCM16 audio frames (a tone for speech, zeros for silence) as
``input_audio_buffer.append`` events; the simulator hears them with its energy detector.  The
relay must have switched input transcription on by itself, or no user message would exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.simulator import audio
from tests.support.harness import Client, connect, relay_settings, running_relay

FRAME_MS = 20


async def speak(client: Client, speech_ms: int = 600, silence_ms: int = 700) -> None:
    """Speech, then enough silence for the simulator's detector to end the utterance."""
    for pcm in [audio.tone(speech_ms), audio.silence(silence_ms)]:
        for offset in range(0, len(pcm), FRAME_MS * 48):
            frame = pcm[offset : offset + FRAME_MS * 48]
            await client.ws.send_message(
                '{"type":"input_audio_buffer.append","audio":"' + audio.encode(frame) + '"}'
            )


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type]


async def test_spoken_turn_is_transcribed_and_ordered(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay, customer_id="voice") as client:
            await speak(client)
            events = await client.receive_until("response.done")
            transcribed = "conversation.item.input_audio_transcription.completed"
            if not of_type(events, transcribed):
                events += await client.receive_until(transcribed)
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    types = [e["type"] for e in events]
    assert "session.updated" in types  # the relay configured the session itself
    assert "input_audio_buffer.speech_started" in types
    # The transcript arrives after the reply has started, yet the user speaks first.
    assert types.index("response.output_audio.delta") < types.index(
        "conversation.item.input_audio_transcription.completed"
    )
    user, assistant = doc["messages"]
    assert user["sender"] == "user"
    assert (
        user["message"]
        == of_type(events, "conversation.item.input_audio_transcription.completed")[0]["transcript"]
    )
    assert assistant["sender"] == "assistant"
    assert (
        assistant["message"]
        == of_type(events, "response.output_audio_transcript.done")[0]["transcript"]
    )
    assert doc["metadata"]["interruptions"] == 0


async def test_barge_in_while_the_reply_plays_marks_it_interrupted(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay, customer_id="barge") as client:
            await client.say("Tell me everything about your store.")
            # The reply was generated faster than real time: it is still playing in the
            # browser when the user starts speaking again.
            await speak(client)
            await client.receive_until("input_audio_buffer.speech_started")
            await client.receive_until("response.done")
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    first_reply = doc["messages"][1]
    assert first_reply["sender"] == "assistant"
    assert first_reply["interrupted"] is True
    assert doc["metadata"]["interruptions"] == 1


async def test_truncate_keeps_only_what_was_heard(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path)) as relay:
        async with connect(relay, customer_id="truncate") as client:
            reply = await client.say("Tell me everything about your store.")
            [done] = of_type(reply, "response.output_audio_transcript.done")
            full_text = done["transcript"]
            await client.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": done["item_id"],
                    "content_index": 0,
                    "audio_end_ms": 600,
                }
            )
            [truncated] = of_type(
                await client.receive_until("conversation.item.truncated"),
                "conversation.item.truncated",
            )
            assert truncated["audio_end_ms"] == 600
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    heard = doc["messages"][1]
    assert heard["interrupted"] is True
    assert heard["message"]
    assert full_text.startswith(heard["message"])
    assert len(heard["message"]) < len(full_text)
