"""``python -m app export|stats``: real processes against SQLite and the local Cosmos DB server.

Each test seeds a known data set through the store itself, runs the command as the operator
would (``sys.executable -m app ...`` with the settings in its environment) and checks what it
printed and its exit status.
"""

from __future__ import annotations

import json
import os
import pty
import selectors
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from app.settings import Settings
from app.web.analytics import CallStats
from tests.support.commands import (
    COMMAND_TIMEOUT,
    DATA_SET,
    command_env,
    conversation,
    run_app,
    seed,
    today,
)
from tests.support.recordings import recorded_document, wav_bytes, write_local_recording

pytestmark = pytest.mark.slow


@pytest.fixture
async def seeded(tmp_path: Path, store_backend: dict[str, Any]) -> dict[str, str]:
    """The data set in the back end under test; the environment a command needs for it."""
    with trio.fail_after(COMMAND_TIMEOUT):
        await seed(Settings(data_dir=tmp_path, **store_backend), DATA_SET)
    return command_env(tmp_path, store_backend)


def by_start(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(docs, key=lambda doc: (doc["session_start"], doc["id"]))


async def test_export_round_trips_every_document(seeded: dict[str, str]) -> None:
    done = await run_app(seeded, "export")
    assert done.status == 0, done.stderr
    exported = [json.loads(line) for line in done.stdout.splitlines()]
    assert exported == by_start(DATA_SET)  # every field, oldest first, UTF-8 intact
    assert done.stderr_lines[-1] == f"exported {len(DATA_SET)} conversation(s)"
    assert "\x1b" not in done.stderr  # stderr is a pipe: no progress bar drawn into it


async def test_export_streams_every_page(tmp_path: Path, store_backend: dict[str, Any]) -> None:
    """More documents than three of the store's pages, some starting in the same second."""
    docs = [
        conversation(100 + n, today - timedelta(hours=1, seconds=n // 3), customer=f"c{n % 7}")
        for n in range(230)
    ]
    with trio.fail_after(COMMAND_TIMEOUT):
        await seed(Settings(data_dir=tmp_path, **store_backend), docs)
    done = await run_app(command_env(tmp_path, store_backend), "export")
    assert done.status == 0, done.stderr
    exported = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(exported) == len(docs)
    assert sorted(exported, key=lambda doc: doc["id"]) == sorted(docs, key=lambda doc: doc["id"])
    starts = [doc["session_start"] for doc in exported]
    assert starts == sorted(starts)  # oldest first, across page boundaries


async def test_export_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """``export | head -1``: the reader goes away; no traceback, status 1 (not complete)."""
    docs = [conversation(100 + n, today - timedelta(seconds=n)) for n in range(400)]
    await seed(Settings(data_dir=tmp_path), docs)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "app", "export"],
        env=command_env(tmp_path, {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        with trio.fail_after(COMMAND_TIMEOUT):
            first = await process.stdout.receive_some(1000)
            assert first.startswith(b'{"id": ')
            await process.stdout.aclose()  # 400 documents do not fit in the pipe: it breaks
            stderr = b""
            while chunk := await process.stderr.receive_some(65536):
                stderr += chunk
            status = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(COMMAND_TIMEOUT, shield=True):
                await process.wait()
    assert status == 1
    assert b"Traceback" not in stderr
    assert b"exported" not in stderr


async def test_export_window_and_customer(tmp_path: Path) -> None:
    await seed(Settings(data_dir=tmp_path), DATA_SET)
    env = command_env(tmp_path, {})
    since = (today - timedelta(days=1)).date().isoformat()  # a date: midnight UTC
    until = (today + timedelta(minutes=2)).isoformat()
    done = await run_app(env, "export", "--since", since, "--until", until, "--customer", "cust-b")
    assert done.status == 0, done.stderr
    ids = [json.loads(line)["conversation_id"] for line in done.stdout.splitlines()]
    assert ids == ["s4", "s3"]
    window = await run_app(env, "export", "--since", since, "--until", until)
    assert [json.loads(line)["conversation_id"] for line in window.stdout.splitlines()] == [
        "s4",
        "s3",
        "s1",
    ]


async def test_stats_figures_on_a_known_data_set(seeded: dict[str, str]) -> None:
    done = await run_app(seeded, "stats", "--days", "7", "--json")
    assert done.status == 0, done.stderr
    stats = json.loads(done.stdout)
    assert [day["calls"] for day in stats["calls_per_day"]] == [1, 0, 0, 0, 0, 2, 2]
    assert stats["calls_per_day"][-1]["date"] == today.date().isoformat()
    assert stats["conversations"] == 5
    assert stats["average_duration_seconds"] == round((30 + 90 + 120 + 0 + 60) / 5, 3)
    assert stats["interruption_rate"] == 0.4
    assert stats["interruptions"] == 3
    assert stats["disconnect_reasons"] == {
        "connection_lost": 1,
        "idle_timeout": 1,
        "user_hangup": 3,
    }
    assert stats["top_tools"] == [
        {"tool": "lookup_order", "calls": 3},
        {"tool": "check_weather", "calls": 1},
    ]
    assert stats["agents"] == [
        {"agent": "root", "calls": 5},
        {"agent": "billing", "calls": 1},
        {"agent": "support", "calls": 1},
    ]


async def test_stats_table_for_a_terminal(tmp_path: Path) -> None:
    await seed(Settings(data_dir=tmp_path), DATA_SET)
    done = await run_app(command_env(tmp_path, {}), "stats", "--days", "2")
    assert done.status == 0, done.stderr
    assert "conversations" in done.stdout
    assert "Top tools" in done.stdout
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    assert rows["lookup_order"].split("│")[2].strip() == "3"
    assert rows["interruption rate"].split("│")[2].strip() == "50.0 %"  # 2 of the 4 calls


def test_export_draws_a_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    """stderr a terminal: the bar is drawn there, and stdout is still nothing but NDJSON."""
    trio.run(seed, Settings(data_dir=tmp_path), DATA_SET)
    controller, terminal = pty.openpty()
    with (tmp_path / "stdout").open("w+b") as stdout:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "app", "export"],
                env=command_env(tmp_path, {}, TERM="xterm", COLUMNS="100"),
                stdout=stdout,
                stderr=terminal,
            )
            os.close(terminal)
            terminal = -1
            try:
                drawn = _read_terminal(controller)
            finally:
                process.kill()  # a no-op once it has exited
                status = process.wait(COMMAND_TIMEOUT)
        finally:
            os.close(controller)
            if terminal >= 0:
                os.close(terminal)
        stdout.seek(0)
        lines = stdout.read().decode().splitlines()
    assert status == 0, drawn
    assert "exporting" in drawn
    assert f"{len(DATA_SET)}/{len(DATA_SET)}" in drawn  # the total is known without bounds
    assert [json.loads(line)["id"] for line in lines] == [doc["id"] for doc in by_start(DATA_SET)]


def _read_terminal(fd: int) -> str:
    """Everything written to the terminal until the process closes it (EIO), within a bound."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + COMMAND_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                return b"".join(chunks).decode(errors="replace")
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_tools_and_agents_are_counted_once_per_conversation() -> None:
    """A name listed twice, a non-list or a non-string counts nothing extra."""
    stats = CallStats(today=today.date(), days=1)
    stats.add(conversation(1, today, tools=("a", "a", "b"), agents=("root",)))
    odd = conversation(2, today)
    odd["metadata"]["tools_called"] = "a"
    odd["metadata"]["agents_used"] = ["root", 7, ""]
    stats.add(odd)
    figures = stats.as_json()
    assert figures["top_tools"] == [{"tool": "a", "calls": 1}, {"tool": "b", "calls": 1}]
    assert figures["agents"] == [{"agent": "root", "calls": 2}]


async def test_export_carries_a_recordings_reference_not_its_audio(tmp_path: Path) -> None:
    recorded = recorded_document(12.5, customer_id="cust-rec")
    write_local_recording(tmp_path, recorded, wav_bytes(0.2))
    with trio.fail_after(COMMAND_TIMEOUT):
        await seed(Settings(data_dir=tmp_path), [recorded])
    done = await run_app(command_env(tmp_path, {}), "export")
    assert done.status == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["recording"] == recorded["recording"]
    assert "RIFF" not in done.stdout and len(line) < 5000
