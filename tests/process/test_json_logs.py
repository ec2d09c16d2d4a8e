"""``LOG_FORMAT=json``: one JSON object per line on stderr, the session id on every call line."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from app.call.session_context import current_session
from app.process.logging_setup import SessionFilter
from tests.support.app_process import START_TIMEOUT, call, wait_exit

pytestmark = pytest.mark.slow


def test_the_session_filter_tags_records_inside_a_call_only() -> None:
    record = logging.LogRecord("app.call.call", logging.INFO, __file__, 1, "x", None, None)
    SessionFilter().filter(record)
    assert not hasattr(record, "session_id")
    token = current_session.set("abc123")
    try:
        SessionFilter().filter(record)
    finally:
        current_session.reset(token)
    assert record.session_id == "abc123"  # type: ignore[attr-defined]


async def test_json_log_lines_carry_the_session_id(tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.jsonl"
    env = {
        **os.environ,
        "PORT": "0",
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REALTIME_UPSTREAM_URL", None)
    env.pop("COSMOSDB_ENDPOINT", None)
    with stderr_path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "app"], env=env, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        assert process.stdout is not None
        banner = b""
        with trio.fail_after(START_TIMEOUT):
            while b"relay listening on" not in banner:
                chunk = await process.stdout.receive_some(4096)
                assert chunk, "the relay exited before listening"
                banner += chunk
        port = int(banner.split(b"relay listening on http://")[1].split(b"\n")[0].rsplit(b":")[1])
        async with call(port, "json-caller") as client:
            await client.say("Log me as JSON.")
            await client.hang_up()
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    records = [json.loads(line) for line in stderr_path.read_text().splitlines()]
    assert records, "nothing was logged"
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    [start] = [r for r in records if r["message"].startswith("Starting session ")]
    session = start["message"].split()[2]
    call_lines = [r for r in records if session in r["message"]]
    assert len(call_lines) >= 3  # start, ending, logged, closed
    # Nothing passes the id explicitly: the call's context variable puts it on every line.
    assert all(r.get("session_id") == session for r in call_lines)
    assert {r["logger"] for r in call_lines} >= {"app.call.call", "app.store.recorder"}
