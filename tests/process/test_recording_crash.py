"""RECORD_CALLS across a SIGKILL: after the restart, the crashed call's document and its
recording both exist, the recording up to the last block staged in Blob Storage (Azurite),
and both say it was cut by a crash."""

from __future__ import annotations

import signal
from pathlib import Path

import trio

from app.recording.writer import BLOCK_SECONDS
from tests.support.app_process import call, relay_process, stored_documents, wait_exit
from tests.support.azurite import Azurite
from tests.support.polling import eventually
from tests.support.recording import Caller, download, energy, read_wav, tone

#: Long enough for the first block, due after one to two blocks' time (spread by the writer).
TALK_SECONDS = 2 * BLOCK_SECONDS + 1.0


async def test_sigkill_mid_call_leaves_a_document_and_a_recording_cut_by_the_crash(
    tmp_path: Path, azurite: Azurite
) -> None:
    env = {
        "RECORD_CALLS": "true",
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "CHECKPOINT_INTERVAL": "0.2",
        "LOG_LEVEL": "DEBUG",
    }
    staging = tmp_path / "recordings" / ".staging"
    async with relay_process(tmp_path, **env) as relay, call(relay.port, "dana") as client:
        await client.say("Please remember this.")
        caller = Caller(client)
        await caller.send(tone(TALK_SECONDS), speaking=True)
        # A block is in Blob Storage (its marker replaced the local copy), and a checkpoint
        # of the call names the recording.
        await eventually(lambda: any(staging.glob("*/*.sent")), 10)
        await relay.wait_for_line("Checkpointed session")
        relay.process.kill()
        assert await wait_exit(relay.process) == -signal.SIGKILL
    assert await stored_documents(tmp_path) == []
    [folder] = staging.iterdir()
    staged = sorted(p.name for p in folder.iterdir() if p.suffix in (".sent", ".pcm"))
    assert staged and staged[0] == "000000.sent"
    staged_bytes = sum(
        int(p.read_text()) if p.suffix == ".sent" else p.stat().st_size
        for p in folder.iterdir()
        if p.suffix in (".sent", ".pcm")
    )

    async with relay_process(tmp_path, **env) as relay:
        await relay.wait_for_line("from the spool")
        await relay.wait_for_line("committed from staging")
        relay.process.send_signal(signal.SIGTERM)
        assert await wait_exit(relay.process) == 0
    [doc] = await stored_documents(tmp_path)
    assert doc["disconnect_reason"] == "server_crash"
    recording = doc["recording"]
    assert recording["name"] == doc["id"] + ".wav" == folder.name + ".wav"
    assert recording["cut_by_crash"] is True and recording["complete"] is False
    # Up to the last staged block: what a crash loses is at most a block and the mixer's hold.
    assert recording["seconds"] == round(staged_bytes / 96_000, 3) > 1.0
    assert not staging.exists() or not any(staging.iterdir())

    params, left, _ = await trio.to_thread.run_sync(
        lambda: read_wav(download(azurite, recording["name"]))
    )
    assert (params.nchannels, params.framerate) == (2, 24_000)
    assert abs(params.nframes / params.framerate - recording["seconds"]) < 0.001
    # The caller's tone is on the left, as long as it was sent or the recording lasts.
    voiced = sum(1 for level in energy(left) if level > 100) * 0.02
    assert voiced >= min(recording["seconds"], TALK_SECONDS) - 2.0
