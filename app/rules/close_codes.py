"""Close codes, both ways: what the browser's code means, and what the relay sends for a reason.

The browser's close code is real only because `app.fastpath.hypercorn_adapter` reports it (hypercorn
0.18 alone says 1006 for everything).  1000, or a close frame without a code (1005), is a
hang-up; 1006 means no close frame arrived (the connection was reset or cut); anything else —
1001 when a tab closes — is a client going away.
"""

from __future__ import annotations

from app.rules.reasons import DisconnectReason

CLOSE_FOR_REASON: dict[DisconnectReason, tuple[int, str]] = {
    DisconnectReason.IDLE_TIMEOUT: (1000, "idle timeout: no frames from the browser"),
    DisconnectReason.MAX_DURATION: (1000, "maximum call duration reached"),
    DisconnectReason.UPSTREAM_CLOSED: (1000, "the model ended the session"),
    DisconnectReason.UPSTREAM_ERROR: (1011, "the model connection failed"),
    DisconnectReason.UPSTREAM_UNAVAILABLE: (1011, "the model is unavailable"),
    DisconnectReason.SERVER_SHUTDOWN: (1001, "server shutting down"),
    DisconnectReason.PROTOCOL_ERROR: (1008, "protocol error"),
    DisconnectReason.SERVER_CRASH: (1011, "internal error"),
}


#: A close frame with no status code (RFC 6455 section 7.1.5): what a browser's ``ws.close()``
#: and the OpenAI Agents SDK's ``session.close()`` send.  The client chose to close: a hang-up.
NO_STATUS = 1005


def reason_for_client_close(code: int) -> DisconnectReason:
    """Map the browser's close code (made real by `app.fastpath.hypercorn_adapter`) to a reason.

    1000 and a close frame without a code (1005) are deliberate hang-ups (``user_hangup``, the
    graceful end); 1006 -- no close frame at all -- is a lost connection; any other code (1001
    when a tab closes, an application's own 4xxx) is a client that went away.
    """
    if code in (1000, NO_STATUS):
        return DisconnectReason.USER_HANGUP
    if code == 1006:
        return DisconnectReason.CONNECTION_LOST
    if code == 1009:
        return DisconnectReason.PROTOCOL_ERROR
    return DisconnectReason.CLIENT_GONE
