"""The local Cosmos DB server the tests run against: ``tests/cosmos/server.js`` in a child process.

`CosmosServer.start` launches it on 127.0.0.1 (a free port) and returns once it listens;
`CosmosServer.stop` ends it.  It speaks the Cosmos DB REST API over HTTPS with a self-signed
certificate (hence ``cosmos_verify_tls=False``), keeps its data in memory, accepts any key, and
can be told to go down and come back on the same port (an outage that keeps the data) or to
answer document requests with an error status.  Every request it receives is appended to a
JSON-lines log, so tests can see what the SDK really sent.

The control methods block for a moment (a line written to the child, its answer read back):
call them through ``trio.to_thread.run_sync`` from async tests.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import attrs

from tests.support.paths import COSMOS_DIR

LAUNCHER = COSMOS_DIR / "server.js"

#: The Cosmos DB emulator's published key.  The local server accepts any key; the SDK only
#: needs one that is valid base64 to sign requests with.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)

START_TIMEOUT = 20.0
REPLY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class CosmosServerError(RuntimeError):
    """The local server did not start or did not answer a command."""


@attrs.define(eq=False)
class CosmosServer:
    process: subprocess.Popen[bytes]
    port: int
    request_log: Path
    stderr_log: Path
    _buffer: bytes = b""

    @classmethod
    def start(cls, workdir: Path) -> CosmosServer:
        """Launch the server with its logs under ``workdir``; return once it listens."""
        module = COSMOS_DIR / "node_modules" / "@vercel" / "cosmosdb-server"
        if not module.is_dir():
            raise CosmosServerError(
                f"{module} is missing: run scripts/install-cosmos-server (scripts/test does)"
            )
        workdir.mkdir(parents=True, exist_ok=True)
        request_log = workdir / "requests.jsonl"
        stderr_log = workdir / "stderr.log"
        with stderr_log.open("wb") as stderr:
            process = subprocess.Popen(
                ["node", str(LAUNCHER), "--request-log", str(request_log)],
                cwd=COSMOS_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                bufsize=0,
            )
        server = cls(process, 0, request_log, stderr_log)
        try:
            server.port = int(json.loads(server._read_line(START_TIMEOUT))["port"])
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def settings(self, database: str | None = None) -> dict[str, Any]:
        """Settings overrides that point a relay at this server, in a database of its own."""
        return {
            "cosmos_endpoint": self.endpoint,
            "cosmos_key": EMULATOR_KEY,
            "cosmos_verify_tls": False,
            "cosmos_database": database or unique_database(),
        }

    def down(self) -> None:
        """Stop listening and reset every open connection; the data is kept."""
        self._command("down", "down")

    def up(self) -> None:
        """Listen again, on the same port."""
        self._command("up", "up")

    def fail(self, count: int, status: int, part: str = "/docs") -> None:
        """Answer the next ``count`` requests whose path contains ``part`` with ``status``."""
        assert " " not in part
        self._command(f"fail {count} {status} {part}", "ok")

    def requests(self, database: str | None = None) -> list[dict[str, Any]]:
        """Every request received so far (those for ``database`` only, when given)."""
        if not self.request_log.exists():
            return []
        lines = self.request_log.read_text().splitlines()
        logged = [json.loads(line) for line in lines if line]
        if database is None:
            return logged
        prefix = f"/dbs/{database}"
        return [r for r in logged if r["url"] == prefix or r["url"].startswith(prefix + "/")]

    def stop(self) -> None:
        """End the server: close its stdin (it exits), kill it if it does not."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _command(self, command: str, expected: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        reply = self._read_line(REPLY_TIMEOUT)
        if reply != expected:
            raise CosmosServerError(f"{command!r} answered {reply!r}, expected {expected!r}")

    def _read_line(self, timeout: float) -> str:
        """The next line the server prints, waiting at most ``timeout`` seconds."""
        stdout = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise CosmosServerError(f"no answer within {timeout:g} s{self._stderr()}")
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    raise CosmosServerError(f"the server exited{self._stderr()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()

    def _stderr(self) -> str:
        if not self.stderr_log.exists():
            return ""
        text = self.stderr_log.read_text(errors="replace").strip()
        return f"; its stderr: {text[-2000:]}" if text else ""


def unique_database() -> str:
    """A database name no other test uses, so that counts and listings see only this test's."""
    return f"test-{uuid.uuid4().hex[:12]}"
