"""RECORD_CALLS against Azurite: the stored recording is the call as the caller heard it.

A caller speaks real speech (espeak-ng) at a browser's pace, the built-in simulator answers
with audio faster than real time, the caller barges in while the reply plays and truncates it
like a browser.  The recording is then measured with the audio itself (energy per 20 ms
window): stereo, the call's length, the caller's speech on the left where it was said, the
agent's reply on the right from when it began to play, stopping where the caller cut it.
"""

from __future__ import annotations

import threading
from array import array
from pathlib import Path
from typing import Any

import attrs
import trio

from app.recording.sinks import CONTAINER
from app.recording.staging import StagingArea
from app.simulator import SimulatorOptions
from app.web.metrics import RelayCollector
from tests.support.azurite import Azurite, connection_string, free_port
from tests.support.harness import (
    IO_TIMEOUT,
    connect,
    copying_into,
    relay_settings,
    running_relay,
)
from tests.support.polling import eventually
from tests.support.recording import (
    FRAME_MS,
    Caller,
    append,
    blob_service,
    download,
    energy,
    read_wav,
    speech,
    tone,
    voiced_runs,
)

FRAME = FRAME_MS / 1000
#: Where the caller's and the relay's clocks may disagree on an event: the hop over loopback
#: and a frame's worth of scheduling on a busy machine.
SLACK = 0.1


def within(runs: list[tuple[float, float]], start: float, end: float) -> bool:
    return all(start - SLACK <= a and b <= end + SLACK for a, b in runs)


async def test_the_recording_is_the_call_as_the_caller_heard_it(
    tmp_path: Path, azurite: Azurite
) -> None:
    question = await speech(tmp_path, "I need help with my order please")
    interruption = await speech(tmp_path, "Wait, wait, stop")
    settings = relay_settings(
        tmp_path, record_calls=True, azure_storage_connection_string=azurite.connection_string
    )
    async with running_relay(settings, simulator=SimulatorOptions(speed=4.0)) as relay:
        async with connect(relay, customer_id="recorded") as client, trio.open_nursery() as n:
            caller = Caller(client)
            n.start_soon(caller.listen)
            await caller.send(bytes(int(0.3 * 48_000)), speaking=False)
            await caller.send(question, speaking=True)
            # Listen to the reply for a second and a bit, then talk over it.
            await caller.silence_until(
                lambda: bool(caller.first_delta)
                and caller.now() > min(caller.first_delta.values()) + 1.2,
                limit=20,
            )
            await caller.send(interruption, speaking=True)
            await caller.silence_until(lambda: bool(caller.truncates), limit=5)
            await caller.send(bytes(int(0.6 * 48_000)), speaking=False)
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    recording: dict[str, Any] = doc["recording"]
    assert recording["where"] == "blob" and recording["name"] == doc["id"] + ".wav"
    assert recording["complete"] is True and recording["gaps"] == 0
    assert recording["cut_by_crash"] is False

    params, left, right = read_wav(download(azurite, recording["name"]))
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 24_000)
    seconds = params.nframes / params.framerate
    assert abs(seconds - recording["seconds"]) < 0.001
    assert abs(seconds - doc["duration_seconds"]) <= FRAME  # the call's length, within a frame

    # The caller on the left, where and only where they spoke.
    spoken = voiced_runs(energy(left))
    (question_at, question_end), (interruption_at, interruption_end) = caller.speech
    assert spoken and within(spoken, question_at, interruption_end)
    assert not [run for run in spoken if question_end + SLACK < run[0] < interruption_at - SLACK]
    assert spoken[0][0] < question_at + 0.3 and spoken[-1][1] > interruption_end - 0.5

    # The agent on the right: the first reply plays from its first delta at real time and
    # stops where the caller truncated it; the model had sent much more than was heard.
    [(item, heard_ms, _)] = caller.truncates
    played_from = caller.first_delta[item]
    assert caller.audio_ms[item] > heard_ms + 500
    replies = voiced_runs(energy(right))
    first = [run for run in replies if run[0] < played_from + heard_ms / 1000]
    assert first, replies
    assert abs(first[0][0] - played_from) <= SLACK
    assert abs(first[-1][1] - (played_from + heard_ms / 1000)) <= SLACK
    assert sum(b - a for a, b in first) >= heard_ms / 1000 - 2 * SLACK  # one stretch, no holes
    later = [run for run in replies if run not in first]
    assert all(run[0] > interruption_at for run in later)  # nothing until the next reply
    # Nothing of the agent during the question (the right channel is the agent's alone).
    assert not [run for run in replies if run[1] < question_end]


@attrs.frozen
class StalledStaging(StagingArea):
    """Local staging whose block writes hang until ``release`` is set: a writer that stalls."""

    release: threading.Event = attrs.field(factory=threading.Event)
    stalled: threading.Event = attrs.field(factory=threading.Event)

    def write_block(self, name: str, seq: int, data: bytes) -> Path:
        self.stalled.set()
        self.release.wait(IO_TIMEOUT * 3)
        return super().write_block(name, seq, data)


async def test_a_writer_that_stalls_never_touches_the_voice(tmp_path: Path) -> None:
    sent: list[str] = []  # every frame the relay sent the model
    settings = relay_settings(tmp_path, record_calls=True, max_frame_rate=100_000.0)
    async with running_relay(settings, wrap_connector=copying_into(sent)) as relay:
        recordings = relay.app.relay.recordings
        assert recordings is not None
        stalled = StalledStaging(recordings.staging.root)
        recordings.staging = stalled
        recordings.block_seconds = 0.05
        # A small tap, so that a flood the audio budget lets through (its burst) overflows it.
        recordings.buffer_bytes = 64 * 1024
        async with connect(relay, customer_id="stalled") as client:
            await client.say("Hello there")  # a message, so the call writes a document
            # The writer's first block (a second into the call: the mixer's hold) hangs.
            await eventually(stalled.stalled.is_set, IO_TIMEOUT)
            frames = [append(quiet_frame(n)) for n in range(FRAMES)]
            for frame in frames:  # as fast as the socket takes them
                await client.ws.send_message(frame)
            await eventually(lambda: sent.count(frames[-1]) == 1, IO_TIMEOUT)
            stats = recordings.stats
            assert stats.dropped_items > 0  # the writer was too far behind for some of them
            stalled.release.set()
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    relayed = [text for text in sent if '"input_audio_buffer.append"' in text]
    assert relayed == frames  # every frame reached the model, unchanged and in order
    recording = doc["recording"]
    assert recording["gaps"] >= 1 and recording["complete"] is False
    assert recordings.stats.gaps >= 1
    metrics = {f.name: f.samples[0].value for f in RelayCollector(relay.app.relay).collect()}
    assert metrics["relay_recording_gaps"] >= 1  # what an operator sees on /metrics
    assert metrics["relay_recording_items_dropped"] == recordings.stats.dropped_items > 0
    params, _, _ = read_wav((tmp_path / "recordings" / recording["name"]).read_bytes())
    assert abs(params.nframes / params.framerate - doc["duration_seconds"]) <= FRAME


#: Six seconds of audio at once: within the audio budget's burst, far beyond the small tap.
FRAMES = 300


def quiet_frame(n: int) -> bytes:
    """20 ms of a tone too quiet for the simulator's VAD; each frame different."""
    return array("h", [n, *[50, -50] * 239, 50]).tobytes()


async def test_blob_storage_down_during_the_call_the_recording_lands_once_later(
    tmp_path: Path,
) -> None:
    port = free_port()  # Blob Storage is down: nothing listens there yet
    settings = relay_settings(
        tmp_path, record_calls=True, azure_storage_connection_string=connection_string(port)
    )
    async with running_relay(settings, simulator=SimulatorOptions(speed=4.0)) as relay:
        recordings = relay.app.relay.recordings
        assert recordings is not None
        recordings.block_seconds = 0.5
        async with connect(relay, customer_id="outage") as client:
            caller = Caller(client)
            await client.say("Hello there")
            await caller.send(tone(2.5), speaking=True)
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()  # the document does not wait for the recording
        recording = doc["recording"]
        assert recording["where"] == "blob" and recording["complete"] is True
        assert recordings.staging.sealed() == [recording["name"]]  # kept on disk meanwhile
        assert recordings.stats.upload_failures >= 1 and recordings.stats.committed == 0
        server = await trio.to_thread.run_sync(Azurite.start, tmp_path / "azurite", port)
        try:
            await eventually(lambda: recordings.stats.committed == 1)
            service = blob_service(server)
            blob = service.get_blob_client(CONTAINER, recording["name"])
            params, left, _ = read_wav(blob.download_blob().readall())
            committed, uncommitted = blob.get_block_list("all")
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(server.stop)
    assert abs(params.nframes / params.framerate - recording["seconds"]) < 0.001
    ids = [block.id for block in committed]
    assert len(ids) == len(set(ids)) >= 2 and ids[0] == "rec-header" and not uncommitted
    assert recordings.staging.sealed() == []
    assert recordings.stats.committed == 1  # uploaded once: nothing left to retry
    assert max(energy(left)) > 100  # the caller's tone made it




async def test_a_call_with_nothing_said_keeps_no_recording(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, record_calls=True)
    async with running_relay(settings) as relay:
        async with connect(relay, customer_id="silent") as client:
            await Caller(client).send(tone(0.5), speaking=False)  # too quiet to be speech
            await client.hang_up()
        await relay.wait_calls_ended()
        assert await relay.documents() == []
        recordings = relay.app.relay.recordings
        assert recordings is not None and recordings.stats.calls == 1
    assert sorted(p.name for p in (tmp_path / "recordings").rglob("*")) == [".staging"]
