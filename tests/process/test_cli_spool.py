"""``python -m app spool``, and every command's answer when the store or the settings are wrong."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from app.settings import Settings
from app.store.spool import Spool
from app.store.sqlite import SQLiteStore
from tests.support.commands import DATA_SET, command_env, run_app, seed
from tests.support.cosmos_server import EMULATOR_KEY

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_cosmos(data_dir: Path) -> dict[str, str]:
    return command_env(
        data_dir,
        {
            "cosmos_endpoint": f"https://127.0.0.1:{closed_port()}/",
            "cosmos_key": EMULATOR_KEY,
            "cosmos_verify_tls": False,
        },
    )


async def test_spool_list_and_flush_save_every_pending_document(tmp_path: Path) -> None:
    await seed(Settings(data_dir=tmp_path), [])  # the store exists, empty
    spool = Spool(tmp_path / "spool")
    for doc in DATA_SET[:3]:
        spool.write_pending(doc)
    spool.write_checkpoint("live-call", DATA_SET[3])
    env = command_env(tmp_path, {})

    listed = await run_app(env, "spool", "list", "--json")
    assert listed.status == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert [entry["id"] for entry in listing["pending"]] == [doc["id"] for doc in DATA_SET[:3]]
    assert listing["pending"][0]["messages"] == 3  # call 1: a caller line, two cut-off answers
    assert listing["live_checkpoints"] == 1
    assert listing["corrupt"] == 0

    flushed = await run_app(env, "spool", "flush")
    assert flushed.status == 0, flushed.stderr
    assert flushed.stderr_lines[-1] == "saved 3 conversation(s), 0 still pending"
    assert spool.pending() == []
    assert len(spool.checkpoints()) == 1  # a live call's checkpoint is not the command's
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    try:
        for doc in DATA_SET[:3]:
            assert await store.get(doc["customer_id"], doc["id"]) == doc
        assert await store.count() == 3
    finally:
        await store.aclose()

    table = await run_app(env, "spool", "list")
    assert table.status == 0
    assert "0 pending, 1 live-call checkpoint(s), 0 corrupt file(s)" in table.stdout


async def test_with_named_spools_list_and_flush_cover_every_one(tmp_path: Path) -> None:
    """SPOOL_LOCKS=false (Azure Files): each relay process has a spool under DATA_DIR/spools;
    the command lists and flushes all of them, a live process's included (upserts by id)."""
    await seed(Settings(data_dir=tmp_path), [])
    first, second = Spool(tmp_path / "spools" / "host-a-7"), Spool(tmp_path / "spools" / "host-b-7")
    first.write_pending(DATA_SET[0])
    second.write_pending(DATA_SET[1])
    second.write_pending(DATA_SET[2])
    second.write_checkpoint("live-call", DATA_SET[3])
    Spool(tmp_path / "spool").write_pending(DATA_SET[3])  # not this mode's: left alone
    env = command_env(tmp_path, {}, SPOOL_LOCKS="false")

    listed = await run_app(env, "spool", "list", "--json")
    assert listed.status == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert listing["directory"] == str(tmp_path / "spools")
    assert sorted(e["id"] for e in listing["pending"]) == sorted(d["id"] for d in DATA_SET[:3])
    assert listing["live_checkpoints"] == 1

    flushed = await run_app(env, "spool", "flush")
    assert flushed.status == 0, flushed.stderr
    assert flushed.stderr_lines[-1] == "saved 3 conversation(s), 0 still pending"
    assert first.pending() == second.pending() == []
    assert len(Spool(tmp_path / "spool").pending()) == 1
    store = await SQLiteStore.open(tmp_path / "conversations.sqlite3")
    try:
        assert await store.count() == 3
    finally:
        await store.aclose()


async def test_spool_flush_to_an_unreachable_store_keeps_the_documents(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.write_pending(DATA_SET[0])
    done = await run_app(unreachable_cosmos(tmp_path), "spool", "flush")
    assert done.status == 1
    assert done.stderr_lines[-1].startswith("error: the conversation store failed: ")
    assert "Traceback" not in done.stderr
    assert len(spool.pending()) == 1


@pytest.mark.parametrize("command", [["export"], ["stats"], ["export", "--customer", "c"]])
async def test_an_unreachable_cosmos_store_is_one_line_and_status_1(
    tmp_path: Path, command: list[str]
) -> None:
    done = await run_app(unreachable_cosmos(tmp_path), *command)
    assert done.status == 1
    assert "Traceback" not in done.stderr
    last = done.stderr_lines[-1]
    assert last.startswith("error: the conversation store failed: cannot connect to Cosmos DB")
    assert done.stdout == ""


async def test_a_missing_sqlite_store_is_one_line_and_is_not_created(tmp_path: Path) -> None:
    done = await run_app(command_env(tmp_path / "wrong", {}), "export")
    assert done.status == 1
    assert done.stderr_lines == [
        "error: the conversation store failed: no conversation store at "
        f"{tmp_path / 'wrong' / 'conversations.sqlite3'} (is DATA_DIR right?)"
    ]
    assert not (tmp_path / "wrong").exists()


async def test_bad_settings_and_bad_arguments_exit_2(tmp_path: Path) -> None:
    bad_setting = await run_app(command_env(tmp_path, {}, SAVE_TIMEOUT="soon"), "stats")
    assert bad_setting.status == 2
    assert bad_setting.stderr_lines == [
        "error: configuration error: SAVE_TIMEOUT must be a number, got 'soon'"
    ]
    bad_argument = await run_app(command_env(tmp_path, {}), "export", "--since", "2026-11-01T08:00")
    assert bad_argument.status == 2
    assert "has no time zone" in bad_argument.stderr
    backwards = await run_app(
        command_env(tmp_path, {}), "export", "--since", "2026-11-02", "--until", "2026-11-01"
    )
    assert backwards.status == 2
    assert backwards.stderr_lines == ["error: --since must be before --until"]


async def test_every_command_has_help(tmp_path: Path) -> None:
    env = command_env(tmp_path, {})
    for command in (["serve"], ["export"], ["stats"], ["spool"], ["spool", "flush"]):
        done = await run_app(env, *command, "--help")
        assert done.status == 0
        assert done.stdout.startswith(f"usage: python -m app {' '.join(command)}")
    assert not (tmp_path / "conversations.sqlite3").exists()  # help touched no store


async def test_serve_command_reports_a_port_in_use(tmp_path: Path) -> None:
    """``serve`` is the server's own path: a port it cannot bind is one line and status 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = command_env(tmp_path, {}, HOST="127.0.0.1", PORT=str(port))
        done = await run_app(env, "serve")
    assert done.status == 1
    assert done.stderr_lines[-1].startswith("the relay could not start: cannot listen")
    assert "Traceback" not in done.stderr
