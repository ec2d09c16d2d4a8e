"""The live calls of this process: admission (``MAX_CALLS``), listing, and the shutdown drain."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import trio

from app.call.call import Call
from app.rules.reasons import DisconnectReason

log = logging.getLogger(__name__)


class Refused(Exception):
    """A new call cannot be admitted; ``str()`` says why, ``status`` is the HTTP answer.

    503 when this process cannot take a call (shutting down, at ``MAX_CALLS``): another
    instance can.  429 when the caller's customer id already holds ``MAX_CALLS_PER_CUSTOMER``.
    """

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


@attrs.define(eq=False)
class CallRegistry:
    max_calls: int
    max_calls_per_customer: int = 5
    draining: bool = False
    calls_started: int = 0
    calls_refused: int = 0
    # Frames relayed by calls that have ended (summed at each call's end, not per frame).
    frames_from_browser: int = 0
    frames_from_upstream: int = 0
    #: Client events the allow-list refused and frames refused by the frame limits (audio
    #: budget, audio frame size, control-event size), by calls that have ended.
    client_events_refused: int = 0
    #: Calls that ended with nothing said, so wrote no document.
    calls_without_messages: int = 0
    _live: dict[str, Call] = attrs.field(factory=dict)
    _per_customer: Counter[str] = attrs.field(factory=Counter)
    _all_ended: trio.Event = attrs.field(factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self._all_ended.set()

    @property
    def active(self) -> int:
        return len(self._live)

    def calls(self) -> list[Call]:
        return list(self._live.values())

    def check_admission(self, customer_id: str | None = None) -> None:
        """Raise `Refused` if a new call (of ``customer_id``, if known) may not start now.

        Calls without a customer id are bounded by ``max_calls`` only.
        """
        if self.draining:
            self.calls_refused += 1
            raise Refused("the server is shutting down")
        if len(self._live) >= self.max_calls:
            self.calls_refused += 1
            raise Refused(f"the server is at its limit of {self.max_calls} calls")
        if customer_id is not None:
            held = self._per_customer[customer_id]
            if held >= self.max_calls_per_customer:
                self.calls_refused += 1
                raise Refused(
                    f"customer {customer_id!r} already has {held} live calls "
                    f"(MAX_CALLS_PER_CUSTOMER={self.max_calls_per_customer})",
                    status=429,
                )

    @contextmanager
    def registered(self, call: Call) -> Iterator[None]:
        """Count ``call`` as live for the duration of the ``with`` block."""
        self._live[call.session_id] = call
        customer = call.customer_id
        if customer is not None:
            self._per_customer[customer] += 1
        self.calls_started += 1
        if self._all_ended.is_set():
            self._all_ended = trio.Event()
        try:
            yield
        finally:
            del self._live[call.session_id]
            if customer is not None:
                self._per_customer[customer] -= 1
                if not self._per_customer[customer]:
                    del self._per_customer[customer]
            self.frames_from_browser += call.frames_from_browser
            self.frames_from_upstream += call.frames_from_upstream
            self.client_events_refused += call.client_events_refused
            if call.outcome == "empty":
                self.calls_without_messages += 1
            if not self._live:
                self._all_ended.set()

    async def wait_idle(self) -> None:
        """Return once no call is live (at once if none is)."""
        await self._all_ended.wait()

    async def drain(self, grace: float) -> bool:
        """Refuse new calls, end every live call as ``server_shutdown`` and wait for their saves.

        Returns True if every call finished within ``grace`` seconds.
        """
        self.draining = True
        live = list(self._live.values())
        if live:
            log.info("Shutting down: ending %d live call(s)", len(live))
        for call in live:
            call.end(DisconnectReason.SERVER_SHUTDOWN)
        with trio.move_on_after(grace):
            await self._all_ended.wait()
            return True
        log.error("Shutdown grace of %g s ran out with %d call(s) still saving", grace, self.active)
        return False
