"""The way out of a simulated session, with the fault switches on it.

Every server event leaves through one :class:`Outbox`, so counting events for ``close_after``,
``error_after`` and ``stall_after`` is one comparison per event, whichever task sends it (the
input reader or a response being streamed).  When a fault trips, the outbox ends the session by
cancelling the session's scope and remembering why; :func:`~app.simulator.session.run_session`
then raises :class:`SimulatedClose` from outside its nursery, so callers see one plain exception
rather than an exception group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import trio
from trio_websocket import ConnectionClosed

from app.simulator.options import SimulatorOptions

#: The close a simulated failure asks for.  1011 is "internal error", what the real services
#: send when they fail mid-call.
FAILURE_CODE: Final = 1011
FAILURE_REASON: Final = "simulated failure"
#: The reason of a ``close_after`` close with another code (1000: the service hanging up cleanly).
CLOSE_REASON: Final = "simulated close"

#: What a send raises once the peer has gone: a closed memory channel, or a closed websocket.
PEER_GONE_ERRORS: Final = (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed)


class SimulatedClose(Exception):
    """The session ended by a fault switch; the transport should close with ``code``/``reason``.

    Raised by :func:`~app.simulator.session.run_session`.  The standalone server turns it into a
    websocket close frame; an in-process caller treats it as the upstream closing on it.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


@attrs.define(eq=False)
class Outbox:
    """Sends server events for one session and applies the fault switches.

    Error handling: a send that fails because the peer went away ends the session quietly (the
    peer cannot hear about it anyway).  Ending means cancelling ``scope``, the scope that wraps
    the whole session, so every task of the session unwinds at its next checkpoint.
    """

    _send: Callable[[str], Awaitable[None]]
    _options: SimulatorOptions
    _scope: trio.CancelScope
    #: Builds the ``error`` event sent by ``error_after`` (it needs the session's event ids).
    _server_error: Callable[[], str]
    sent: int = 0
    stalled: bool = False
    #: Set when a fault closed the session: what the transport should do with the connection.
    closing: SimulatedClose | None = None

    async def open(self) -> None:
        """Apply a switch set to 0 before the first event (``close_after=0``: close at once)."""
        await self._after_sent()

    async def send(self, text: str) -> None:
        """Send one server event (JSON text), unless the session is stalled."""
        if self.stalled:
            return
        try:
            await self._send(text)
        except PEER_GONE_ERRORS:
            await self._end(None)
        self.sent += 1
        await self._after_sent()

    async def _after_sent(self) -> None:
        options = self._options
        if self.sent == options.close_after:
            code = options.close_code
            reason = FAILURE_REASON if code == FAILURE_CODE else CLOSE_REASON
            await self._end(SimulatedClose(code, reason))
        if self.sent == options.error_after:
            try:
                await self._send(self._server_error())
            except PEER_GONE_ERRORS:
                await self._end(None)
            await self._end(SimulatedClose(FAILURE_CODE, FAILURE_REASON))
        if self.sent == options.stall_after:
            self.stalled = True

    async def _end(self, closing: SimulatedClose | None) -> None:
        """Cancel the session; the checkpoint raises ``Cancelled`` right here, in the sender."""
        if self.closing is None:
            self.closing = closing
        self._scope.cancel()
        await trio.lowlevel.checkpoint()
        raise AssertionError("unreachable: the session scope was cancelled")  # pragma: no cover
