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

Text lines cannot be forged: `EscapingFormatter` escapes control characters (a newline, a
carriage return, NUL, ESC ...) in each message, so a client value that reaches a log line cannot
start a line of its own that looks like the relay's (``... ERROR app.web.admin_api: ...``) or
drive a terminal.  JSON lines are safe by construction (the encoder escapes them).  The relay
also keeps client values out of its lines in the first place: counts and bounded, quoted names
(`app.rules.client_events.shown`).
"""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

from app.call.session_context import current_session
from app.settings import Settings

__all__ = [
    "EscapingFormatter",
    "SessionFilter",
    "announce",
    "configure_logging",
    "escape_controls",
]


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "{asctime}{levelname}{name}{message}"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
#: The logger of the start-up lines, which go to stdout (see `announce`).
ANNOUNCE_LOGGER = "app.announce"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a Python escape (``\\n``, ``\\x00``)."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


class EscapingFormatter(logging.Formatter):
    """The text format, with control characters in the message escaped (one record, one line;
    a traceback, added after the message, keeps its own lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        escaped = logging.makeLogRecord(record.__dict__)
        escaped.message = escape_controls(record.message)
        return super().formatMessage(escaped)


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
    handler.setFormatter(_json_formatter() if json_lines else EscapingFormatter(TEXT_FORMAT))
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
