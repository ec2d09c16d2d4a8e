"""Text logs cannot be forged: a client value with a newline or NUL stays inside its own line.

Through the real process (``python -m app``, ``LOG_FORMAT=text``): a caller sends a
``session.update`` whose key holds a newline and a line that looks like one of the relay's own
``ERROR`` lines, and a NUL; the relay's output has no such line, and no raw control character.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import trio
import trio_websocket

from app.process.logging_setup import TEXT_FORMAT, EscapingFormatter
from tests.support.relay_process import relay_process

pytestmark = pytest.mark.slow

FORGED = "ERROR app.web.admin_api: leak"


def test_the_text_formatter_escapes_control_characters_but_not_tracebacks() -> None:
    formatter = EscapingFormatter(TEXT_FORMAT)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "app.x", logging.WARNING, __file__, 1, "key %s", (f"a\n{FORGED}\x00\x1b[2J",), exc_info
    )
    text = formatter.format(record)
    first, *rest = text.split("\n")
    assert first.endswith(f"key a\\n{FORGED}\\x00\\x1b[2J")
    assert rest[0] == "Traceback (most recent call last):"  # the traceback keeps its lines
    assert record.getMessage().count("\n") == 1  # the record itself is left as it was


async def test_a_forged_log_line_stays_inside_the_relays_line(tmp_path: Path) -> None:
    key = f"x\n{FORGED}\x00"
    session = {"type": "realtime", "audio": {"output": {"voice": "marin"}}, key: 1}
    event = {"type": "session.update", "session": session}
    async with relay_process(tmp_path) as relay:
        stream = await trio.open_tcp_stream("127.0.0.1", relay.port)
        async with stream, trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, f"127.0.0.1:{relay.port}", "/api/realtime?customer_id=forger"
            )
            await ws.send_message(json.dumps(event))
            with trio.fail_after(10):
                line = await relay.log.wait_for("from a session.update")
            await ws.aclose()
            nursery.cancel_scope.cancel()
    assert "\\nERROR app.web.admin_api: leak\\x00" in line
    assert not [text for text in relay.log.lines if text.startswith(FORGED)]
    assert not [text for text in relay.log.lines if "\x00" in text]
