"""Running the operator commands (``python -m app export|stats|spool``) in tests: the process's
environment, its outcome, and the data set the command tests seed a store with."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import trio

from app.record.tracker import Sender
from app.rules.reasons import DisconnectReason
from app.settings import Settings
from app.store.factory import open_store
from tests.support import documents
from tests.support.documents import make_document

#: A command's process starts Python and (for Cosmos DB) the Azure SDK on a shared machine.
COMMAND_TIMEOUT = 60.0
NOW = datetime.now(UTC).replace(microsecond=0)
_ENV_BY_SETTING = {
    "cosmos_endpoint": "COSMOSDB_ENDPOINT",
    "cosmos_key": "COSMOSDB_KEY",
    "cosmos_verify_tls": "COSMOSDB_VERIFY_TLS",
    "cosmos_database": "COSMOSDB_DATABASE",
}


@attrs.frozen
class Finished:
    status: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def command_env(data_dir: Path, backend: dict[str, Any], **extra: str) -> dict[str, str]:
    """The process's environment: this one's, minus any store or upstream it points at."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COSMOSDB_", "REALTIME_", "AZURE_OPENAI_", "DATA_DIR"))
    }
    env["DATA_DIR"] = str(data_dir)
    for name, value in backend.items():
        env[_ENV_BY_SETTING[name]] = str(value).lower() if isinstance(value, bool) else str(value)
    env.update(extra)
    return env


async def run_app(env: dict[str, str], *args: str) -> Finished:
    """``python -m app ARGS`` to its end, output captured."""
    with trio.fail_after(COMMAND_TIMEOUT):
        done = await trio.run_process(
            [sys.executable, "-m", "app", *args],
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return Finished(done.returncode, done.stdout.decode(), done.stderr.decode())


def conversation(
    number: int,
    start: datetime,
    *,
    customer: str = "cust-a",
    duration: float = 60.0,
    interruptions: int = 0,
    tools: tuple[str, ...] = (),
    agents: tuple[str, ...] = ("root",),
    reason: str = "user_hangup",
) -> dict[str, Any]:
    """The document of call ``s<number>`` as the relay builds it, with non-ASCII text in it: a
    caller line, then an answer for each interruption (each one cut off), or one whole answer."""
    said: list[tuple[Sender, str]] = [("user", f"Grüße, call {number}")]
    said += [("assistant", "Hello 👋")] * max(1, interruptions)
    return make_document(
        customer,
        start=start,
        session_id=f"s{number}",
        record=documents.conversation(said, interrupted=interruptions, tools=tools, agents=agents),
        duration=timedelta(seconds=duration),
        reason=DisconnectReason(reason),
    )


today = NOW.replace(hour=0, minute=0, second=0)
#: Two calls today, two yesterday, one six days ago, one long ago (outside every window here).
DATA_SET = [
    conversation(
        1,
        today + timedelta(minutes=1),
        duration=30.0,
        interruptions=2,
        tools=("lookup_order", "check_weather"),
        agents=("root", "billing"),
    ),
    conversation(2, today + timedelta(minutes=2), duration=90.0, tools=("lookup_order",)),
    conversation(
        3,
        today - timedelta(hours=12),
        customer="cust-b",
        duration=120.0,
        interruptions=1,
        tools=("lookup_order",),
        agents=("root", "support"),
        reason="idle_timeout",
    ),
    conversation(4, today - timedelta(hours=20), customer="cust-b", duration=0.0),
    conversation(5, today - timedelta(days=6), duration=60.0, reason="connection_lost"),
    conversation(6, today - timedelta(days=400), duration=10.0, tools=("old_tool",)),
]


async def seed(settings: Settings, docs: list[dict[str, Any]]) -> None:
    store = await open_store(settings)
    try:
        for doc in docs:
            await store.save(doc)
    finally:
        await store.aclose()
