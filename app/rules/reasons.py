"""Why a call ended: the vocabulary of ``disconnect_reason``, shared by the rules and the record.

The close-code rules and the frame policy decide a reason; the document builder stores it.  It
lives with the rules (which the record may import) so that neither imports the other's package.
"""

from __future__ import annotations

import enum


class DisconnectReason(enum.StrEnum):
    """Why a call ended, as stored in ``disconnect_reason``."""

    USER_HANGUP = "user_hangup"
    CLIENT_GONE = "client_gone"
    CONNECTION_LOST = "connection_lost"
    IDLE_TIMEOUT = "idle_timeout"
    UPSTREAM_CLOSED = "upstream_closed"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    SERVER_SHUTDOWN = "server_shutdown"
    MAX_DURATION = "max_duration"
    PROTOCOL_ERROR = "protocol_error"
    SERVER_CRASH = "server_crash"

    @property
    def graceful(self) -> bool:
        """Only a hang-up (client close 1000 or 1005, a phone caller's hang-up) is graceful."""
        return self is DisconnectReason.USER_HANGUP
