"""The live hub's publish policy: never waits, bounded per watcher, no work when unwatched."""

from __future__ import annotations

from typing import Any

import trio

from app.live.hub import LiveHub
from app.live.projection import Line, Row
from app.record.tracker import ConversationRecord, ConversationTracker


def heard(n: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": f"item-{n}",
        "transcript": f"line {n}",
    }


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def make_feed(hub: LiveHub, clock: Clock | None = None) -> Any:
    tracker = ConversationTracker()
    return hub.feed(
        session_id="s1",
        customer_id=None,
        agent=lambda: "root",
        record=tracker.record,
        clock=clock or Clock(),
    )


def test_no_watchers_means_no_work() -> None:
    scrubbed: list[str] = []

    def scrub(text: str) -> str:
        scrubbed.append(text)
        return text

    hub = LiveHub(scrub=scrub)
    feed = make_feed(hub)
    for n in range(100):
        feed.observe_upstream(heard(n))
        feed.observe_client({"type": "conversation.item.truncate", "item_id": "x"})
    assert scrubbed == []  # no line was built
    # The state is still followed, cheaply, so a late watcher sees the truth.
    feed.observe_upstream({"type": "response.created"})
    assert feed.row().state == "speaking"


async def test_a_watcher_gets_a_snapshot_then_updates_in_order() -> None:
    hub = LiveHub()
    clock = Clock()
    feed = make_feed(hub, clock)
    board = hub.watch_board()
    watcher, row, lines = feed.watch()
    assert (row.customer_id, row.agent, row.state) == ("anonymous", "root", "listening")
    assert row.elapsed == 0
    assert lines == []
    clock.now += 2.5
    feed.observe_upstream(heard(1))
    feed.observe_upstream({"type": "response.created"})
    feed.end("user_hangup", "ai_conv_s1")
    got = [update async for update in watcher.receive]  # the channel ends with the call
    assert got[0] == Line("user", "line 1", "item-1")
    assert isinstance(got[1], Row) and got[1].state == "speaking" and got[1].elapsed == 2.5
    assert isinstance(got[2], Row)
    assert (got[2].reason, got[2].conversation) == ("user_hangup", "ai_conv_s1")
    assert len(got) == 3
    on_board = [board.receive.receive_nowait() for _ in range(2)]
    assert on_board == got[1:]
    assert feed.watchers == 0


async def test_a_stuck_watcher_is_dropped_after_its_buffer_and_others_keep_up() -> None:
    hub = LiveHub(buffer=8)
    feed = make_feed(hub)
    stuck, _, _ = feed.watch()
    reader, _, _ = feed.watch()
    received: list[Any] = []
    for n in range(1000):  # never awaits the watchers: a plain loop of sync calls
        feed.observe_upstream(heard(n))
        while True:
            try:
                received.append(reader.receive.receive_nowait())
            except trio.WouldBlock:
                break
        assert stuck.receive.statistics().current_buffer_used <= 8
    assert len(received) == 1000
    assert stuck.lagged and not reader.lagged
    assert hub.dropped == 1
    assert feed.watchers == 1
    # The stuck watcher still reads what it had, then learns its stream ended.
    backlog = [update async for update in stuck.receive]
    assert backlog == [Line("user", f"line {n}", f"item-{n}") for n in range(8)]


async def test_a_watcher_that_went_away_is_forgotten() -> None:
    hub = LiveHub()
    feed = make_feed(hub)
    watcher, _, _ = feed.watch()
    await watcher.receive.aclose()
    feed.observe_upstream(heard(1))
    assert feed.watchers == 0
    assert hub.dropped == 0


async def test_watching_an_ended_call_gives_its_last_row_and_ends() -> None:
    hub = LiveHub()
    feed = make_feed(hub)
    feed.end("idle_timeout", None)
    feed.end("user_hangup", None)  # the first end wins
    watcher, row, _ = feed.watch()
    assert row.reason == "idle_timeout"
    assert [update async for update in watcher.receive] == []


def test_snapshot_comes_from_the_tracker_record() -> None:
    hub = LiveHub(scrub=str.upper)
    tracker = ConversationTracker()
    tracker.observe_upstream(heard(1), 0.0)
    feed = hub.feed(
        session_id="s2",
        customer_id="cust-1",
        agent=lambda: "billing",
        record=tracker.record,
        clock=Clock(),
    )
    _, row, lines = feed.watch()
    assert row.as_json()["customer_id"] == "cust-1"
    assert row.as_json()["agent"] == "billing"
    assert [line.text for line in lines] == ["LINE 1"]
    assert isinstance(tracker.record(), ConversationRecord)
