"""The session id of the call the current task belongs to, for every log line the call writes.

`Call.run` sets it; trio copies context variables into every task the call starts, so its loops,
tools and shielded save all see it.  `app.process.logging_setup` reads it onto each log record.
"""

from __future__ import annotations

from contextvars import ContextVar

#: The session id of the call the current task belongs to (None outside calls).
current_session: ContextVar[str | None] = ContextVar("current_session", default=None)
