"""The built-in simulator as a call's upstream: in-process, joined by two memory channels.

The embedded default (no sockets, the cheapest peer for demos) and the peer of most tests.  Kept
out of `app.model.upstream` so that a relay pointed at a real model never imports the simulator.
"""

from __future__ import annotations

import attrs
import trio

from app.model.upstream import Upstream, UpstreamClosed, UpstreamUnavailable
from app.rules.dialect import Dialect
from app.simulator import SimulatedClose, SimulatorOptions, run_session

__all__ = ["SIMULATOR_QUEUE", "InProcessUpstream", "SimulatorConnector"]

#: Frames each of the two channels holds; a full channel makes the sender wait, as a socket would.
SIMULATOR_QUEUE = 64


@attrs.define(eq=False)
class InProcessUpstream:
    """The simulator's session task, joined to the call by two bounded memory channels.

    Backpressure: both channels hold `SIMULATOR_QUEUE` frames; a full channel makes the sender
    wait, exactly as a slow socket would.
    """

    _to_simulator: trio.MemorySendChannel[str]
    _from_simulator: trio.MemoryReceiveChannel[str]
    _close_code: list[int]

    async def send(self, text: str) -> None:
        try:
            await self._to_simulator.send(text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise UpstreamClosed(self._code()) from None

    async def receive(self) -> str:
        try:
            return await self._from_simulator.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise UpstreamClosed(self._code()) from None

    async def aclose(self, code: int = 1000) -> None:
        await self._to_simulator.aclose()
        await self._from_simulator.aclose()

    def _code(self) -> int:
        return self._close_code[0] if self._close_code else 1000


@attrs.define(eq=False)
class SimulatorConnector:
    """Runs the built-in simulator in-process for each call."""

    options: SimulatorOptions = attrs.field(factory=SimulatorOptions)
    description: str = "built-in simulator"

    @property
    def dialect(self) -> Dialect:
        return self.options.dialect

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        if self.options.refuse:
            raise UpstreamUnavailable("the simulator refused the connection (fault switch)")
        to_sim_send, to_sim_receive = trio.open_memory_channel[str](SIMULATOR_QUEUE)
        from_sim_send, from_sim_receive = trio.open_memory_channel[str](SIMULATOR_QUEUE)
        close_code: list[int] = []

        async def simulate() -> None:
            async with to_sim_receive, from_sim_send:
                try:
                    await run_session(to_sim_receive.receive, from_sim_send.send, self.options)
                except SimulatedClose as exc:
                    close_code.append(exc.code)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the call went away while the simulator was talking

        nursery.start_soon(simulate)
        return InProcessUpstream(to_sim_send, from_sim_receive, close_code)
