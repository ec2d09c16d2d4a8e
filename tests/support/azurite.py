"""Azurite's Blob service, the Azure Storage emulator the recording tests run against.

`Azurite.start` launches ``azurite-blob`` (installed by scripts/install-azurite into
tests/azurite) on 127.0.0.1, on a free port it reports, with its data in a folder of the test's
own, and returns once it listens; `Azurite.stop` ends it.  `connection_string` is the emulator's
published account (devstoreaccount1) at that port: what ``AZURE_STORAGE_CONNECTION_STRING`` is
set to.

``--skipApiVersionCheck``: the SDK may be newer than the emulator's newest service version.
``--loose``: headers Azurite does not implement are ignored instead of refused.
``--silent``: no access log on stdout, which nobody reads once Azurite listens (a full pipe would
stall it).
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
from pathlib import Path

import attrs

from tests.support.paths import TESTS_DIR

AZURITE_DIR = TESTS_DIR / "azurite"
LAUNCHER = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
#: The emulator's published key (the same in every Azurite).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
_LISTENING = re.compile(rb"listens on http://127\.0\.0\.1:([0-9]+)")


class AzuriteError(RuntimeError):
    """Azurite did not start."""


@attrs.define(eq=False)
class Azurite:
    process: subprocess.Popen[bytes]
    port: int
    output: bytes = b""

    @classmethod
    def start(cls, workdir: Path) -> Azurite:
        """Launch Azurite's Blob service with its data under ``workdir``; return once it listens."""
        if not LAUNCHER.exists():
            raise AzuriteError(
                f"{LAUNCHER} is missing: run scripts/install-azurite (scripts/test does)"
            )
        location = workdir / "azurite"
        location.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [
                str(LAUNCHER),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--location",
                str(location),
                "--skipApiVersionCheck",
                "--loose",
                "--disableProductStyleUrl",
                "--silent",
            ],
            cwd=AZURITE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
        )
        server = cls(process, 0)
        try:
            server.port = server._wait_listening()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def stop(self) -> None:
        """End Azurite: SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _wait_listening(self) -> int:
        """The port from Azurite's "successfully listens on" line, read within the timeout."""
        stdout = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while (found := _LISTENING.search(self.output)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AzuriteError(
                        f"Azurite did not listen within {START_TIMEOUT:g} s: {self._said()}"
                    )
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    raise AzuriteError(f"Azurite exited: {self._said()}")
                self.output += chunk
        return int(found.group(1))

    def _said(self) -> str:
        return self.output.decode(errors="replace").strip()[-2000:]
