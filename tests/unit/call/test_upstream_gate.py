"""The frames a browser sends before the model answers: held in order, bounded in bytes."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from app.call.client_loop import MAX_PENDING_BYTES, UpstreamGate


@attrs.define
class Model:
    received: list[str] = attrs.Factory(list)

    async def send(self, text: str) -> None:
        self.received.append(text)

    async def receive(self) -> str:
        raise AssertionError("not used")

    async def aclose(self, code: int = 1000) -> None:
        pass


async def test_the_queue_is_bounded_in_bytes_then_the_browser_waits() -> None:
    gate = UpstreamGate()
    frame = "x" * 100_000
    sent = 0

    async def browser() -> None:
        nonlocal sent
        for _ in range(30):
            await gate.send(f"{sent:03d}" + frame)
            sent += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(browser)
        await trio.testing.wait_all_tasks_blocked()
        assert sent == MAX_PENDING_BYTES // 100_003  # ten frames held; the eleventh waits
        assert gate.pending_chars <= MAX_PENDING_BYTES
        model = Model()
        await gate.open(model, "session.update")
    assert sent == 30
    assert model.received[0] == "session.update"
    assert [text[:3] for text in model.received[1:]] == [f"{n:03d}" for n in range(30)]
    assert gate.pending_chars == 0
