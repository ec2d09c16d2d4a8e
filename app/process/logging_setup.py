"""Log lines as text for a terminal or as JSON for a log pipeline, with the call's session id.

`configure_logging` is called once, by ``python -m app``.  ``LOG_FORMAT=json`` writes one JSON
object per line (python-json-logger), so Azure Monitor / Log Analytics or any collector can
filter on fields instead of parsing text.  Every line logged while a call runs carries that
call's ``session_id`` field: `Call.run` sets `current_session`, a context variable that trio
copies into every task the call starts (its relay loops, tools, the shielded save), and
`SessionFilter` copies it onto each record.

The start-up lines (``relay listening on ...``, ``upstream: ...``, ``store: ...``) go to stdout,
where tests and people look for the address: `announce` writes them there, as plain text or, in
JSON mode, as JSON objects like every other line, so a pipeline that parses each line of the
container's output never meets a plain one.  They are written whatever ``LOG_LEVEL`` is.

The Azure SDKs log every HTTP request and response at INFO; they are kept at WARNING unless
``LOG_LEVEL=DEBUG``.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from app.call.session_context import current_session
from app.settings import Settings

__all__ = ["SessionFilter", "announce", "configure_logging"]


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "{asctime}{levelname}{name}{message}"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
#: The logger of the start-up lines, which go to stdout (see `announce`).
ANNOUNCE_LOGGER = "app.announce"


class SessionFilter(logging.Filter):
    """Adds ``session_id`` to records logged inside a call (an explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "session_id", None) is None:
            session = current_session.get()
            if session is not None:
                record.session_id = session
        return True


def configure_logging(settings: Settings) -> None:
    """Send the process's log lines to stderr in ``settings.log_format`` at its level, and the
    start-up lines (`announce`) to stdout in the same format, at any level."""
    json_lines = settings.log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SessionFilter())
    handler.setFormatter(_json_formatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.logging_level)
    if settings.logging_level > logging.DEBUG:
        logging.getLogger("azure").setLevel(logging.WARNING)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(_json_formatter() if json_lines else logging.Formatter("%(message)s"))
    announcer = logging.getLogger(ANNOUNCE_LOGGER)
    announcer.handlers[:] = [stdout]
    announcer.propagate = False
    announcer.setLevel(logging.INFO)  # said whatever LOG_LEVEL is


def announce(line: str) -> None:
    """Write a start-up line to stdout: plain, or one JSON object with ``LOG_FORMAT=json``.

    Before `configure_logging` (a test that serves in-process) it is printed as it is.
    """
    announcer = logging.getLogger(ANNOUNCE_LOGGER)
    if announcer.handlers:
        announcer.info(line)
    else:
        print(line, flush=True)


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(JSON_FIELDS, style="{", rename_fields=JSON_RENAMES, timestamp=False)
