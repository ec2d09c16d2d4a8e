"""Abuse limits: a browser flooding frames, and one customer holding too many calls."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
import trio_websocket

from app.rules.rate_limit import WINDOW, FrameRateLimit
from tests.support.harness import IO_TIMEOUT, connect, expect_refusal, relay_settings, running_relay

FRAME = json.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(960)).decode()}
)


def test_the_rate_is_averaged_over_the_window() -> None:
    limit = FrameRateLimit(rate=50)
    # A browser's steady 50 frames a second for a minute is always allowed.
    assert all(limit.allow(n * 0.02) for n in range(3000))
    # A burst of the whole window's budget at once is allowed, one frame more is not.
    burst = FrameRateLimit(rate=50)
    assert all(burst.allow(0.0) for _ in range(int(50 * WINDOW)))
    assert not burst.allow(0.0)
    # After a quiet second the budget has refilled by the rate.
    assert all(burst.allow(1.0) for _ in range(49))


async def test_a_flooding_browser_gets_an_error_and_close_1008_and_the_call_is_logged(
    tmp_path: Path,
) -> None:
    # 10 frames a second averaged over 2 s: 20 frames of budget.  40 frames sent back to back
    # exceed it unless sending them took over 2 s.  The test then stops sending, so that its
    # frames do not race the relay's close frame (a reset would hide the close code).
    async with running_relay(relay_settings(tmp_path, max_frame_rate=10.0)) as relay:
        async with connect(relay, customer_id="flooder") as client:
            await client.type_text("Something to remember.")
            for _ in range(40):
                try:
                    await client.ws.send_message(FRAME)
                except trio_websocket.ConnectionClosed:
                    break
            errors = []
            with trio.fail_after(IO_TIMEOUT):
                while True:
                    try:
                        event = json.loads(await client.ws.get_message())
                    except trio_websocket.ConnectionClosed as exc:
                        assert exc.reason is not None
                        code = exc.reason.code
                        break
                    if event["type"] == "error":
                        errors.append(event["error"]["code"])
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    assert code == 1008
    assert errors[-1] == "rate_limit_exceeded"
    assert doc["disconnect_reason"] == "protocol_error"
    assert doc["messages"][0]["message"] == "Something to remember."


async def test_one_customer_may_hold_only_max_calls_per_customer(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, max_calls_per_customer=2)
    async with running_relay(settings) as relay:
        async with connect(relay, customer_id="busy"), connect(relay, customer_id="busy"):
            body = await expect_refusal(relay.port, "/api/realtime?customer_id=busy", 429)
            assert "customer 'busy' already has 2 live calls" in body
            # Other customers and anonymous callers are bounded by MAX_CALLS only.
            async with connect(relay, customer_id="other"), connect(relay), connect(relay):
                pass
        await relay.wait_calls_ended()
        # Once a call ends, the customer may call again.
        async with connect(relay, customer_id="busy") as client:
            await client.say("Back again.")
            await client.hang_up()
        await relay.wait_calls_ended()
        assert relay.app.relay.registry.calls_refused == 1


@pytest.fixture
def full_spool(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose spool is a 64 KiB tmpfs, filled to the last byte (a full disk)."""
    spool = tmp_path / "data" / "spool"
    spool.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(spool)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with (spool / "filler").open("wb", buffering=0) as filler:
            try:
                for _ in range(10_000):  # bounded: 64 KiB fill up long before
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        yield tmp_path / "data"
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


async def test_a_full_spool_disk_is_reported_and_calls_go_on(full_spool: Path) -> None:
    settings = relay_settings(full_spool, checkpoint_interval=0.05)
    async with running_relay(settings) as relay:
        recorder = relay.app.relay.recorder
        async with connect(relay, customer_id="full-disk") as client:
            await client.say("The disk is full but I am still heard.")
            with trio.fail_after(IO_TIMEOUT):
                while recorder.spool_health.writable:  # noqa: ASYNC110 - checkpoints on a timer
                    await trio.sleep(0.05)
            turn = await client.say("Still there?")
            await client.hang_up()
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            ready = await http.get(f"http://127.0.0.1:{relay.port}/readyz")
            metrics = (await http.get(f"http://127.0.0.1:{relay.port}/metrics")).text
    assert turn[-1]["response"]["status"] == "completed"
    assert doc["disconnect_reason"] == "user_hangup"  # the store took it
    assert ready.status_code == 200
    spool = ready.json()["spool"]
    assert spool["writable"] is False
    assert "No space left on device" in spool["error"]
    assert "relay_spool_writable 0.0" in metrics
    assert "relay_spool_write_failures_total" in metrics
