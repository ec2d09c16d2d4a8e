"""Support for the live-board tests (no tests here): a server-sent-event reader over a plain TCP
connection the test owns, so a test can read events one at a time, or stop reading at all.

(httpx's streaming iterators are async generators nested four deep, which trio's warnings-as-
errors run reports as unclosed when a test leaves a stream early; a raw socket has no such layer.)
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from tests.support.harness import IO_TIMEOUT

TOKEN = "admin-secret"


class StreamEnded(Exception):
    """The server finished the event stream."""


@attrs.define(eq=False)
class EventStream:
    """One ``GET`` of an event stream: its status, headers, then ``(event, data)`` pairs."""

    stream: trio.SocketStream
    status: int = 0
    headers: dict[str, str] = attrs.Factory(dict)
    _raw: bytes = b""
    _body: bytes = b""
    _done: bool = False

    @classmethod
    async def open(
        cls, port: int, path: str, token: str | None = TOKEN, *, receive_buffer: int = 0
    ) -> EventStream:
        """Connect and send the request; ``receive_buffer`` shrinks the socket's buffer."""
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        with trio.fail_after(IO_TIMEOUT):
            await sock.connect(("127.0.0.1", port))
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n"
        events = cls(trio.SocketStream(sock))
        await events.stream.send_all(request.encode())
        return events

    async def read_head(self) -> None:
        with trio.fail_after(IO_TIMEOUT):
            while b"\r\n\r\n" not in self._raw:
                await self._fill()
        head, _, self._raw = self._raw.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status.split()[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines)
        }

    async def json(self) -> Any:
        """The whole body of a non-stream answer (an error), as JSON."""
        length = int(self.headers["content-length"])
        with trio.fail_after(IO_TIMEOUT):
            while len(self._raw) < length:
                await self._fill()
        return json.loads(self._raw[:length])

    async def next(self) -> tuple[str, Any]:
        """The next event (comments skipped); `StreamEnded` when the server finished."""
        with trio.fail_after(IO_TIMEOUT):
            while True:
                block, separator, rest = self._body.partition(b"\n\n")
                if separator:
                    self._body = rest
                    event = _parse(block.decode())
                    if event is not None:
                        return event
                    continue
                if self._done:
                    raise StreamEnded
                await self._next_chunk()

    async def until(self, event: str, **fields: Any) -> Any:
        """The data of the next ``event`` whose data has ``fields``."""
        while True:
            kind, data = await self.next()
            if kind == event and all(data.get(k) == v for k, v in fields.items()):
                return data

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise StreamEnded
        self._raw += data

    async def _next_chunk(self) -> None:
        """Move one chunk of the chunked body from ``_raw`` to ``_body``."""
        while b"\r\n" not in self._raw:
            await self._fill()
        size_line, _, self._raw = self._raw.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(self._raw) < size + 2:
            await self._fill()
        self._body += self._raw[:size]
        self._raw = self._raw[size + 2 :]
        if size == 0:
            self._done = True


def _parse(block: str) -> tuple[str, Any] | None:
    event, data = "", None
    for line in block.split("\n"):
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
    return (event, data) if event else None


@asynccontextmanager
async def event_stream(
    port: int, path: str, token: str | None = TOKEN
) -> AsyncIterator[EventStream]:
    """An event stream whose head has been read; closed when the block exits."""
    events = await EventStream.open(port, path, token)
    try:
        await events.read_head()
        yield events
    finally:
        await events.aclose()
