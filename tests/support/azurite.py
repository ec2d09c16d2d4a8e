"""Azurite, the local Azure Blob Storage server the recording tests run against.

`Azurite.start` launches its Blob service on 127.0.0.1 (a free port unless one is given) with
its data in a directory of its own, and returns once it accepts connections; `Azurite.stop`
ends it (its data stays in the directory, so a test can start it again on the same port: an
outage).  ``--skipApiVersionCheck``: the SDK may be newer than this Azurite; ``--loose``:
headers Azurite does not implement are ignored rather than refused.

Blocking (a child process, a connection attempt): call through ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import attrs

from tests.support.paths import AZURITE_DIR

#: Azurite's published development account (it accepts only this one by default).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class AzuriteError(RuntimeError):
    """Azurite is not installed, or did not start."""


def free_port() -> int:
    """A port nothing listens on now (for a server started later on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def connection_string(port: int) -> str:
    """The connection string of an Azurite Blob service on ``port`` (listening or not)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


@attrs.define(eq=False)
class Azurite:
    process: subprocess.Popen[bytes]
    port: int
    location: Path

    tls: bool = False

    @classmethod
    def start(
        cls, location: Path, port: int | None = None, *, tls: tuple[Path, Path] | None = None
    ) -> Azurite:
        """Azurite's Blob service with its data under ``location``; on ``port`` if given.

        ``tls`` (a PEM certificate and key) serves HTTPS with Entra ID bearer tokens accepted
        (``--oauth basic``: issuer, audience and lifetime are checked, the signature is not).
        """
        launcher = AZURITE_DIR / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
        if not launcher.is_file():
            raise AzuriteError(f"{launcher} is missing: run scripts/install-azurite")
        location.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        command = [
            "node", str(launcher),
            "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--location", str(location),
            "--skipApiVersionCheck", "--loose", "--silent",
        ]  # fmt: skip
        if tls is not None:
            command += ["--cert", str(tls[0]), "--key", str(tls[1]), "--oauth", "basic"]
        with (location / "azurite.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=AZURITE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        server = cls(process, port, location, tls is not None)
        try:
            server._wait_listening()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    @property
    def account_url(self) -> str:
        """The account's URL, as ``AZURE_STORAGE_ACCOUNT_URL`` takes it (HTTPS: ``tls``)."""
        return f"https://127.0.0.1:{self.port}/{ACCOUNT}"


    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL); its data stays under ``location``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AzuriteError(f"Azurite exited: {self._log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.05)  # polling a child's socket with a bounded deadline
        raise AzuriteError(f"Azurite did not listen within {START_TIMEOUT:g} s: {self._log()}")

    def _log(self) -> str:
        path = self.location / "azurite.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def entra_token(lifetime: float = 3600.0) -> str:
    """A token shaped like Entra ID's for Blob Storage (what Azurite's basic OAuth checks)."""
    import jwt

    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "iat": now,
        "nbf": now - 60,
        "exp": now + int(lifetime),
        "oid": "relay-identity",
    }
    return jwt.encode(claims, "not-checked-by-azurite-" * 2, algorithm="HS256")
