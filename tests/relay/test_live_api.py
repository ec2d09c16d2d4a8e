"""The live board's event streams over real hypercorn sockets: what a watcher reads, the admin
token, and a watcher that stops reading while a call goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from app.call.call import Call
from app.live.hub import WATCHER_BUFFER
from tests.support.harness import IO_TIMEOUT, RunningRelay, connect, relay_settings, running_relay
from tests.support.live import TOKEN, EventStream, StreamEnded, event_stream
from tests.support.pii import RAW, REDACTED, SAID

#: Bound on the frames it may take a stuck watcher to fill its socket and then its buffer (each
#: frame makes one transcript line of ``LONG_TEXT``; it takes about 70).
MAX_FRAMES_TO_OVERFLOW = 1000
#: Frames the call relays after the hub dropped the stuck watcher.
FRAMES_AFTER = 40
#: A long typed message: each makes a transcript line of this size on the stuck stream.
LONG_TEXT = "please hold the line " * 800
#: MAX_TEXT_RATE for these tests: they type LONG_TEXT as fast as the relay takes it.
FAST_TYPIST = 1e9


async def live_call(relay: RunningRelay) -> Call:
    """The one live call, once it is registered."""
    with trio.fail_after(IO_TIMEOUT):
        while not relay.app.relay.registry.calls():  # noqa: ASYNC110 (polled, bounded)
            await trio.sleep(0.01)
    [call] = relay.app.relay.registry.calls()
    return call


async def test_a_watcher_sees_the_row_the_transcript_and_the_end(tmp_path: Path) -> None:
    async with (
        running_relay(relay_settings(tmp_path, admin_token=TOKEN)) as relay,
        event_stream(relay.port, "/api/admin/live") as board,
    ):
        assert board.status == 200
        assert board.headers["content-type"].startswith("text/event-stream")
        assert "default-src 'none'" in board.headers["content-security-policy"]
        assert await board.next() == ("snapshot", {"calls": []})
        async with connect(relay, customer_id="cust-7") as client:
            call = await live_call(relay)
            row = await board.until("row", session_id=call.session_id)
            assert (row["customer_id"], row["agent"], row["ended"]) == ("cust-7", "root", False)
            await client.say("What is my balance?")  # before watching: comes in the snapshot
            path = f"/api/admin/live/{call.session_id}"
            async with event_stream(relay.port, path) as transcript:
                kind, snapshot = await transcript.next()
                assert kind == "snapshot"
                assert snapshot["row"]["customer_id"] == "cust-7"
                assert [line["kind"] for line in snapshot["lines"]] == ["user", "assistant"]
                assert snapshot["lines"][0]["text"] == "What is my balance?"

                await client.say("Thank you")  # the events wait in the watcher's buffer
                line = await transcript.until("line", kind="user")
                assert line["text"] == "Thank you"
                speaking = await transcript.until("row", state="speaking")
                assert speaking["session_id"] == call.session_id
                reply = await transcript.until("line", kind="assistant")
                assert reply["text"]
                await transcript.until("row", state="listening")
                await client.hang_up()
                ended = await transcript.until("row", ended=True)
                assert ended["reason"] == "user_hangup"
                with pytest.raises(StreamEnded):  # the call's stream ends with the call
                    await transcript.next()
        on_board = await board.until("row", ended=True)
        await relay.wait_calls_ended()
        [doc] = await relay.documents()
    assert on_board == ended
    assert ended["conversation"] == doc["id"]
    assert ended["customer_id"] == doc["customer_id"]
    assert call.feed.watchers == 0
    assert not relay.app.relay.live.board_watched  # the board's watcher left with its stream


async def test_the_streams_need_the_admin_token(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path, admin_token=TOKEN)) as relay:
        async with event_stream(relay.port, "/api/admin/live", token=None) as anonymous:
            assert anonymous.status == 401
            assert "Bearer" in (await anonymous.json())["error"]
        async with event_stream(relay.port, "/api/admin/live/abc", token="x") as wrong:
            assert wrong.status == 401
        async with event_stream(relay.port, "/api/admin/live/no-such-call") as missing:
            assert missing.status == 404
            assert "no live call" in (await missing.json())["error"]
        assert not relay.app.relay.live.board_watched


async def round_trip(client: Any, text: str) -> float:
    """Send a typed message and wait for the model's acknowledgement; the seconds it took."""
    started = trio.current_time()
    with trio.fail_after(IO_TIMEOUT):
        await client.type_text(text)
        await client.receive_until("conversation.item.added")
    return trio.current_time() - started


async def test_a_watcher_that_stops_reading_never_holds_the_call_up(tmp_path: Path) -> None:
    async with running_relay(
        relay_settings(tmp_path, admin_token=TOKEN, max_text_rate=FAST_TYPIST)
    ) as relay:
        hub = relay.app.relay.live
        async with connect(relay, customer_id="cust-9") as client:
            call = await live_call(relay)
            path = f"/api/admin/live/{call.session_id}"
            stuck = await EventStream.open(relay.port, path, receive_buffer=4096)
            try:
                with trio.fail_after(IO_TIMEOUT):
                    while call.feed.watchers == 0:  # noqa: ASYNC110 (polled, bounded)
                        await trio.sleep(0.01)
                # The call goes on, every frame in a bounded round trip, while the watcher's
                # socket and then its buffer fill up, until the hub lets it go.
                backlog = []
                while_stuck: list[float] = []
                while call.feed.watchers and len(while_stuck) < MAX_FRAMES_TO_OVERFLOW:
                    while_stuck.append(await round_trip(client, LONG_TEXT))
                    backlog.append(call.feed.backlog)
                assert hub.dropped == 1
                assert call.feed.watchers == 0
                # The watcher is still stuck (its connection open, unread); the call goes on.
                after = [await round_trip(client, LONG_TEXT) for _ in range(FRAMES_AFTER)]
                await client.hang_up()
            finally:
                await stuck.aclose()
        await relay.wait_calls_ended()
    assert WATCHER_BUFFER <= len(while_stuck) < MAX_FRAMES_TO_OVERFLOW
    assert max(backlog) == WATCHER_BUFFER  # it filled, and never grew past its bound
    assert len(after) == FRAMES_AFTER
    assert max(while_stuck + after) < IO_TIMEOUT
    assert call.frames_from_browser >= len(while_stuck) + FRAMES_AFTER


async def test_the_board_shows_markers_not_what_the_caller_read_out(tmp_path: Path) -> None:
    """REDACT_PII reaches the board: the supervisor sees markers, the model heard the caller."""
    async with (
        running_relay(relay_settings(tmp_path, admin_token=TOKEN)) as relay,
        connect(relay, customer_id="reads-out") as client,
    ):
        call = await live_call(relay)
        async with event_stream(relay.port, f"/api/admin/live/{call.session_id}") as stream:
            assert (await stream.next())[0] == "snapshot"
            await client.say(SAID)
            line = await stream.until("line", kind="user")
            await client.hang_up()
    assert line["text"] == REDACTED
    assert not any(raw in line["text"] for raw in RAW)
