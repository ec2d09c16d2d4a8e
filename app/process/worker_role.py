"""Who a worker process is: its index, the shared port, and the supervisor's pipe.

Its own module so that the supervisor (`app.process.workers`), the server it runs
(`app.process.server`) and the worker's entry point can all name it without importing each other.
"""

from __future__ import annotations

import socket

import attrs


@attrs.frozen
class WorkerRole:
    """What the supervisor tells a worker process, on its command line."""

    index: int
    port: int
    #: Read end of a pipe only the supervisor can write to: end-of-file means it is gone.
    supervisor_fd: int

    def argv(self) -> list[str]:
        return [str(self.index), str(self.port), str(self.supervisor_fd)]

    @classmethod
    def from_argv(cls, argv: list[str]) -> WorkerRole:
        index, port, supervisor_fd = (int(arg) for arg in argv)
        return cls(index, port, supervisor_fd)

    def bind(self, host: str) -> str:
        """A hypercorn bind (``fd://N``) for a socket sharing the port with the other workers."""
        return f"fd://{reuse_port_socket(host, self.port).detach()}"


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` with ``SO_REUSEPORT``, not listening yet."""
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Accepted connections inherit it: audio frames must not wait for Nagle's algorithm.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
