"""Who watches what: the board's watchers, each call's feed, and the no-waiting publish.

Shape::

    LiveHub                     one per relay (process-wide, no tasks of its own)
    ├─ board watchers           every row change of every call
    └─ CallFeed (one per call)  created by the call, fed on its careful path
       └─ call watchers         that call's lines and row

Backpressure policy (the call never waits on a watcher): every watcher has a memory channel of
`WATCHER_BUFFER` updates.  Publishing is ``send_nowait``; a watcher whose buffer is full has
fallen behind, and is dropped on the spot: its channel is closed (it still reads what is
buffered, then learns it lagged, and its page reconnects for a fresh snapshot) and nothing
more is sent to it.  So a stuck watcher costs at most `WATCHER_BUFFER` small values, and the
call's only work per event is the projection plus one ``send_nowait`` per watcher.

No watchers means no work: `CallFeed.observe_upstream` checks `CallFeed.watched` (two set
lengths) before building anything; only the state machine's one dictionary lookup runs always.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from app.live.projection import (
    CallProjection,
    Line,
    Row,
    Scrub,
    Update,
    identity,
    snapshot_lines,
)
from app.record.tracker import ConversationRecord

#: Updates buffered per watcher before it counts as stuck and is dropped.
WATCHER_BUFFER = 64


@attrs.define(eq=False)
class Watcher:
    """One browser's subscription: read updates from `receive` until it ends.

    ``lagged`` is set when the hub dropped it for falling behind (the channel then ends early).
    """

    send: trio.MemorySendChannel[Update]
    receive: trio.MemoryReceiveChannel[Update]
    lagged: bool = False

    @classmethod
    def open(cls, buffer: int) -> Watcher:
        send, receive = trio.open_memory_channel[Update](buffer)
        return cls(send, receive)


@attrs.define(eq=False)
class LiveHub:
    """The process's live-board state: board watchers and the publish policy."""

    buffer: int = WATCHER_BUFFER
    scrub: Scrub = identity
    #: watchers dropped for falling behind, since start (for tests and metrics).
    dropped: int = 0
    _board: set[Watcher] = attrs.field(factory=set)

    @property
    def board_watched(self) -> bool:
        return bool(self._board)

    def watch_board(self) -> Watcher:
        watcher = Watcher.open(self.buffer)
        self._board.add(watcher)
        return watcher

    def unwatch_board(self, watcher: Watcher) -> None:
        self._board.discard(watcher)
        watcher.send.close()

    def publish_row(self, row: Row) -> None:
        self.publish(self._board, row)

    def publish(self, watchers: set[Watcher], update: Update) -> None:
        """Hand ``update`` to each of ``watchers`` without waiting; drop any that is full."""
        for watcher in list(watchers):
            try:
                watcher.send.send_nowait(update)
            except trio.WouldBlock:
                watcher.lagged = True
                self.dropped += 1
                watchers.discard(watcher)
                watcher.send.close()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                watchers.discard(watcher)  # its reader went away

    def feed(
        self,
        *,
        session_id: str,
        customer_id: str | None,
        agent: Callable[[], str],
        record: Callable[[], ConversationRecord],
        clock: Callable[[], float],
    ) -> CallFeed:
        """A new call's feed; its row goes to the board at once."""
        feed = CallFeed(
            hub=self,
            session_id=session_id,
            customer_id=customer_id or "anonymous",
            agent=agent,
            record=record,
            clock=clock,
            projection=CallProjection(scrub=self.scrub),
        )
        if self._board:
            self.publish_row(feed.row())
        return feed


@attrs.define(eq=False)
class CallFeed:
    """One call's side of the board.  Every method is synchronous: nothing here can block."""

    hub: LiveHub
    session_id: str
    customer_id: str
    agent: Callable[[], str]
    record: Callable[[], ConversationRecord]
    clock: Callable[[], float]
    projection: CallProjection
    started_at: float = attrs.field(init=False)
    ended: Row | None = attrs.field(init=False, default=None)
    _watchers: set[Watcher] = attrs.field(init=False, factory=set)

    def __attrs_post_init__(self) -> None:
        self.started_at = self.clock()

    @property
    def watched(self) -> bool:
        return bool(self._watchers) or self.hub.board_watched

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    @property
    def backlog(self) -> int:
        """The most updates any of this call's watchers has waiting (at most the buffer)."""
        return max((w.send.statistics().current_buffer_used for w in self._watchers), default=0)

    def row(self) -> Row:
        if self.ended is not None:
            return self.ended
        return Row(
            session_id=self.session_id,
            customer_id=self.customer_id,
            agent=self.agent(),
            state=self.projection.state,
            elapsed=self.clock() - self.started_at,
        )

    # -- the call's hooks (careful path only) ------------------------------------------------

    def observe_client(self, event: Mapping[str, Any]) -> None:
        if self._watchers:
            self._publish_lines(self.projection.observe_client(event))

    def observe_upstream(self, event: Mapping[str, Any]) -> None:
        moved = self.projection.follow_state(event.get("type"))
        if not self.watched:
            return
        if self._watchers:
            self._publish_lines(self.projection.observe_upstream(event))
        if moved:
            self._publish_row(self.row())

    def end(self, reason: str, conversation: str | None) -> None:
        """The call is over (and saved, if ``conversation``): last row, then close the feed."""
        if self.ended is not None:
            return
        self.ended = Row(
            session_id=self.session_id,
            customer_id=self.customer_id,
            agent=self.agent(),
            state="listening",
            elapsed=self.clock() - self.started_at,
            reason=reason,
            conversation=conversation,
        )
        self._publish_row(self.ended)
        for watcher in self._watchers:
            watcher.send.close()
        self._watchers.clear()

    # -- watchers ------------------------------------------------------------------------------

    def watch(self) -> tuple[Watcher, Row, list[Line]]:
        """Subscribe; the watcher and the snapshot it starts from (taken in the same step, so
        nothing is missed or repeated).  For an ended call the watcher's channel is closed."""
        watcher = Watcher.open(self.hub.buffer)
        row = self.row()
        lines = snapshot_lines(self.record(), self.projection.reply_pending, self.projection.scrub)
        if self.ended is None:
            self._watchers.add(watcher)
        else:
            watcher.send.close()
        return watcher, row, lines

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        watcher.send.close()

    def _publish_lines(self, updates: list[Update]) -> None:
        for update in updates:
            self.hub.publish(self._watchers, update)

    def _publish_row(self, row: Row) -> None:
        self.hub.publish(self._watchers, row)
        self.hub.publish_row(row)
