"""A TCP stream that waits for readiness before it reads, and sends without a detour.

trio's `SocketStream` is built for correctness on every platform: each ``receive_some`` first
tries ``recv``; on an idle voice socket that fails with EAGAIN, trio raises and catches
`BlockingIOError`, re-arms epoll (one-shot) and waits, then calls ``recv`` again: three system
calls and an exception per frame, plus four context managers.  Each ``send_all`` goes through
the same wrapper (a conflict detector, an error-translating context manager, a memoryview, and
per ``send`` an async context manager).  The relay moves ~50 small frames a second per call
each way, so this wrapper was the largest single cost in its profile.

`ReadinessSocketStream` implements the same `trio.abc.HalfCloseableStream` contract for a
connected TCP socket on Linux:

* ``receive_some`` waits for readability first, then calls ``recv`` once (a spurious wake-up
  only loops).  When the previous read filled the buffer, more is probably waiting, so it tries
  ``recv`` first, as trio does.
* ``send_all`` calls ``send`` directly and, when the kernel took everything (almost always for
  a voice frame), yields once with ``cancel_shielded_checkpoint``: exactly the checkpoint trio
  performs.  Otherwise it waits for writability and continues.
* Errors are translated as trio translates them (EBADF/ENOTSOCK -> `trio.ClosedResourceError`,
  other `OSError` -> `trio.BrokenResourceError`), and two tasks sending at once is a
  `trio.BusyResourceError`.

Everything else (``send_eof``, ``aclose``, socket options) is delegated to a real
`trio.SocketStream`, which also applies trio's socket defaults (TCP_NODELAY, TCP_NOTSENT_LOWAT).
It reaches the standard-library socket through trio's private ``_sock`` attribute;
``tests/unit/fastpath/test_fastpath_fingerprints.py`` fails if that or the replaced trio code
changes.
"""

from __future__ import annotations

import errno
import socket as stdlib_socket
from typing import Any

import trio

# As trio.SocketStream: a read of at most this many bytes when the caller gives no size.
DEFAULT_RECEIVE_SIZE = 65536
_CLOSED_ERRNOS = {errno.EBADF, errno.ENOTSOCK}


def _stream_error(exc: OSError) -> trio.ClosedResourceError | trio.BrokenResourceError:
    if exc.errno in _CLOSED_ERRNOS:
        return trio.ClosedResourceError("this socket was already closed")
    broken = trio.BrokenResourceError(f"socket connection broken: {exc}")
    broken.__cause__ = exc
    return broken


class ReadinessSocketStream(trio.abc.HalfCloseableStream):
    """A drop-in for `trio.SocketStream` with a cheaper receive and send path (see module)."""

    def __init__(self, inner: trio.SocketStream) -> None:
        self._inner = inner
        self.socket = inner.socket
        raw = getattr(inner.socket, "_sock", None)
        if not isinstance(raw, stdlib_socket.socket):
            raise TypeError("trio's socket no longer wraps a standard-library socket as _sock")
        self._raw: stdlib_socket.socket = raw
        self._sending = False
        self._read_was_full = False

    @classmethod
    def wrap(cls, stream: trio.abc.Stream) -> trio.abc.Stream:
        """``stream`` itself unless it is a plain `trio.SocketStream` (then the fast one)."""
        return cls(stream) if type(stream) is trio.SocketStream else stream

    # -- receiving -------------------------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is None:
            max_bytes = DEFAULT_RECEIVE_SIZE
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        raw = self._raw
        if raw.fileno() == -1:
            raise trio.ClosedResourceError("this socket was already closed")
        if self._read_was_full:
            # The last read filled the buffer: more is probably there already.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                data = raw.recv(max_bytes)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise _stream_error(exc) from None
            else:
                self._read_was_full = len(data) == max_bytes
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        while True:
            await trio.lowlevel.wait_readable(raw)
            try:
                data = raw.recv(max_bytes)
            except BlockingIOError:
                continue  # a spurious wake-up
            except OSError as exc:
                raise _stream_error(exc) from None
            self._read_was_full = len(data) == max_bytes
            return data

    # -- sending ---------------------------------------------------------------------------

    def send_now(self, data: bytes | bytearray | memoryview) -> memoryview | None:
        """Send what the kernel takes now, without waiting; the unsent rest, or None.

        For callers that serialise their own sends (hypercorn's send lock): together with one
        ``cancel_shielded_checkpoint`` it is ``send_all`` for the common case.
        """
        if self._inner.socket.did_shutdown_SHUT_WR:
            raise trio.ClosedResourceError("can't send data after sending EOF")
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise _stream_error(exc) from None
        if sent == len(data):
            return None
        return memoryview(data)[sent:]

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            if not data:
                if self._raw.fileno() == -1:
                    raise trio.ClosedResourceError("socket was already closed")
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            rest = self.send_now(data)
            if rest is None:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            await self._send_rest(rest)
        finally:
            self._sending = False

    async def _send_rest(self, rest: memoryview) -> None:
        raw = self._raw
        while rest:
            try:
                await trio.lowlevel.wait_writable(raw)
            except OSError as exc:
                raise _stream_error(exc) from None
            try:
                sent = raw.send(rest)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise _stream_error(exc) from None
            rest = rest[sent:]

    async def wait_send_all_might_not_block(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this stream")
        await self._inner.wait_send_all_might_not_block()

    # -- the rest is trio's ----------------------------------------------------------------

    async def send_eof(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this stream")
        await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def setsockopt(self, level: int, option: int, value: Any, length: int | None = None) -> None:
        if length is None:
            self._inner.setsockopt(level, option, value)
        else:
            self._inner.setsockopt(level, option, None, length)

    def getsockopt(self, level: int, option: int, buffersize: int = 0) -> int | bytes:
        return self._inner.getsockopt(level, option, buffersize)
