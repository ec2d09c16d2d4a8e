"""``LOG_FORMAT=json``: one JSON object per line on stderr, the session id on every call line."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from app.call.session_context import current_session
from app.process.logging_setup import SessionFilter
from tests.support.app_process import START_TIMEOUT, call, relay_environment, wait_exit
from tests.support.polling import eventually

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
    env = relay_environment(tmp_path / "data", {"LOG_FORMAT": "json"})
    with stderr_path.open("wb") as stderr:
        async with json_relay(env, subprocess.PIPE, stderr) as process:
            assert process.stdout is not None
            banner = b""
            with trio.fail_after(START_TIMEOUT):
                while not _listening_ports(banner.decode(errors="replace")):
                    chunk = await process.stdout.receive_some(4096)
                    assert chunk, "the relay exited before listening"
                    banner += chunk
            [port] = _listening_ports(banner.decode())
            async with call(port, "json-caller") as client:
                await client.say("Log me as JSON.")
                await client.hang_up()
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


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_with_json_logs_every_line_the_process_writes_is_a_json_object(
    tmp_path: Path, workers: str
) -> None:
    """stdout and stderr, start to exit, one process or a supervisor and its workers."""
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    # DEBUG: every line the relay can say, the libraries' too.
    env = relay_environment(
        tmp_path / "data", {"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG", "WORKERS": workers}
    )
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        async with json_relay(env, stdout, stderr) as process:

            def listening() -> bool:
                assert process.returncode is None, stderr_path.read_text()[-2000:]
                return len(_listening_ports(stdout_path.read_text())) == int(workers)

            await eventually(listening, START_TIMEOUT)  # another process's output: polled
            port = _listening_ports(stdout_path.read_text())[0]
            async with call(port, "json-lines") as client:
                await client.say("Every line is JSON.")
                await client.hang_up()
    lines = {
        name: path.read_text().splitlines()
        for name, path in (("stdout", stdout_path), ("stderr", stderr_path))
    }
    for name, text_lines in lines.items():
        for line in text_lines:
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"{name}: not JSON: {line!r}") from None
            assert isinstance(record, dict) and {"level", "logger", "message"} <= record.keys()
    said = [json.loads(line)["message"] for line in lines["stdout"]]
    assert sum(m.startswith("relay listening on http://") for m in said) == int(workers)
    assert any(m.startswith("upstream: ") for m in said)
    assert any(m.startswith("store: SQLite ") for m in said)
    assert len(lines["stderr"]) > 5  # the relay did log: the call, the drain


@asynccontextmanager
async def json_relay(env: dict[str, str], stdout: Any, stderr: Any) -> AsyncIterator[trio.Process]:
    """``python -m app`` with ``env``; on the way out SIGTERM, a clean exit asserted (the
    process is killed if the body failed first)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app"], env=env, stdout=stdout, stderr=stderr
    )
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _listening_ports(stdout: str) -> list[int]:
    """The ports in the JSON start-up lines written so far (the last line may be partial)."""
    ports = []
    for line in stdout.splitlines():
        try:
            message = json.loads(line).get("message", "")
        except ValueError:
            continue
        if message.startswith("relay listening on http://"):
            ports.append(int(message.rsplit(":", 1)[1]))
    return ports
