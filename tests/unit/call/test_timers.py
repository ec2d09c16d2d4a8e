"""The checkpoint task writes on the leading edge: the first change at once, then at most once
per interval, the last change of a burst included; nothing while nothing changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import trio
from trio.testing import MockClock

from app.call.timers import checkpoint_every

INTERVAL = 15.0


@attrs.define
class FakeCall:
    """A record whose revision moves when the test says, and the writes the task made."""

    revision: int = 0
    messages: int = 0
    revised: trio.Event = attrs.field(factory=trio.Event)
    writes: list[tuple[float, int]] = attrs.field(factory=list)
    wrote: trio.Event = attrs.field(factory=trio.Event)

    def say(self) -> None:
        self.revision += 1
        self.messages += 1
        self.revised.set()

    async def changed(self) -> None:
        await self.revised.wait()
        self.revised = trio.Event()

    def document(self) -> dict[str, Any] | None:
        return {"messages": [{}] * self.messages} if self.messages else None

    async def write(self, session_id: str, doc: Mapping[str, Any]) -> None:
        assert session_id == "s1"
        self.writes.append((trio.current_time(), len(doc["messages"])))
        self.wrote.set()
        self.wrote = trio.Event()


async def run_checkpoints(fake: FakeCall, nursery: trio.Nursery, stopped: trio.Event) -> None:
    nursery.start_soon(
        lambda: checkpoint_every(
            INTERVAL,
            session_id="s1",
            revision=lambda: fake.revision,
            changed=fake.changed,
            document=fake.document,
            write=fake.write,
            stopped=stopped,
        )
    )


async def test_first_change_is_written_at_once_later_ones_once_per_interval(
    autojump_clock: MockClock,
) -> None:
    fake, stopped = FakeCall(), trio.Event()
    async with trio.open_nursery() as nursery:
        await run_checkpoints(fake, nursery, stopped)
        start = trio.current_time()
        await trio.sleep(1)
        assert fake.writes == []  # nothing said: nothing written
        fake.say()
        await trio.testing.wait_all_tasks_blocked()
        assert fake.writes == [(start + 1, 1)]  # at once, not after an interval
        for _ in range(5):  # a burst within the interval: one write at its end, with all of it
            await trio.sleep(1)
            fake.say()
        await trio.sleep(INTERVAL)
        assert fake.writes == [(start + 1, 1), (start + 1 + INTERVAL, 6)]
        await trio.sleep(10 * INTERVAL)
        assert len(fake.writes) == 2  # nothing changed: nothing written
        fake.say()  # quiet for longer than the interval: written at once again
        await trio.testing.wait_all_tasks_blocked()
        assert fake.writes[-1] == (start + 6 + 11 * INTERVAL, 7)
        nursery.cancel_scope.cancel()
    assert stopped.is_set()


async def test_a_change_with_nothing_to_write_waits_for_the_next(
    autojump_clock: MockClock,
) -> None:
    fake, stopped = FakeCall(), trio.Event()
    async with trio.open_nursery() as nursery:
        await run_checkpoints(fake, nursery, stopped)
        fake.revision += 1  # e.g. a session update: the record moved, no message yet
        fake.revised.set()
        await trio.testing.wait_all_tasks_blocked()
        assert fake.writes == []
        await trio.sleep(3)
        fake.say()
        await trio.testing.wait_all_tasks_blocked()
        assert [count for _, count in fake.writes] == [1]
        nursery.cancel_scope.cancel()
