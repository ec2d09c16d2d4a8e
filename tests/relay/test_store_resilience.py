"""The voice never waits on the log: a store that is down, slow or unusable at start-up.

An unreachable store must not stop the relay: calls are served and spooled, ``/readyz`` says
"ready" (with the store's state in its body), and the spool is written to the store once it is
reachable.  Only an error that retrying cannot fix (a rejected key, a TLS certificate that does
not verify) stops start-up, with one line.
"""

from __future__ import annotations

import ssl
import sys
from functools import partial
from pathlib import Path

import httpx
import trio
import trustme

from tests.support.cosmos_server import EMULATOR_KEY, CosmosServer
from tests.support.harness import IO_TIMEOUT, connect, relay_settings, running_relay
from tests.support.polling import eventually

#: The opener's backoff starts at 1 s and doubles: a short outage is over within a few tries.
RECONNECT_DEADLINE = 40.0


async def test_a_store_down_at_start_up_takes_calls_and_stores_them_once_it_is_back(
    private_cosmos_server: CosmosServer, tmp_path: Path
) -> None:
    server = private_cosmos_server
    await trio.to_thread.run_sync(server.down)
    settings = relay_settings(tmp_path, **server.settings(), save_timeout=2.0)
    async with running_relay(settings) as relay:
        store = relay.app.relay.store
        assert not store.is_open
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            ready = await http.get(f"http://127.0.0.1:{relay.port}/readyz")
        assert ready.status_code == 200  # the voice is up although the log is down
        assert ready.json()["store"]["state"] in ("connecting", "unavailable")

        for n in range(3):
            async with connect(relay, customer_id=f"early-{n}") as client:
                await client.say(f"Call number {n} while the store is down.")
                await client.hang_up()
        await relay.wait_calls_ended()
        recorder = relay.app.relay.recorder
        assert (recorder.saved, recorder.spooled) == (0, 3)

        await trio.to_thread.run_sync(server.up)
        await eventually(lambda: store.is_open, RECONNECT_DEADLINE)
        await eventually(lambda: recorder.pending_count() == 0, RECONNECT_DEADLINE)
        page = await store.recent(limit=10)
    assert sorted(doc["customer_id"] for doc in page.items) == ["early-0", "early-1", "early-2"]
    assert recorder.flushed == 3


def self_signed_tls_context() -> ssl.SSLContext:
    """A server context with a certificate no system trust store knows (trustme's own CA)."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.2").configure_cert(context)
    return context


async def relay_exit(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run ``python -m app`` until it exits by itself: its exit status and its stderr."""
    full_env = {"PATH": "/usr/bin:/bin", "PORT": "0", "DATA_DIR": str(tmp_path), **env}
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-m", "app"],
            env=full_env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return result.returncode, result.stderr.decode(errors="replace")


async def test_a_tls_certificate_that_does_not_verify_stops_start_up(tmp_path: Path) -> None:
    async def hold(stream: trio.SSLStream[trio.SocketStream]) -> None:
        try:
            await stream.do_handshake()
            await stream.receive_some()
        except trio.BrokenResourceError:
            pass  # the relay refused our certificate, as it must

    async with trio.open_nursery() as nursery:
        # 127.0.0.2: the SDK never verifies 127.0.0.1 and localhost (its emulator rule).
        serve = partial(trio.serve_ssl_over_tcp, host="127.0.0.2")
        [listener] = await nursery.start(serve, hold, 0, self_signed_tls_context())
        port = listener.transport_listener.socket.getsockname()[1]
        status, stderr = await relay_exit(
            {"COSMOSDB_ENDPOINT": f"https://127.0.0.2:{port}/", "COSMOSDB_KEY": EMULATOR_KEY},
            tmp_path,
        )
        nursery.cancel_scope.cancel()
    assert status == 1, stderr
    assert "the relay could not start: cannot connect to Cosmos DB" in stderr
    assert "CERTIFICATE_VERIFY_FAILED" in stderr
    assert "Traceback" not in stderr


async def test_a_malformed_key_stops_start_up(tmp_path: Path) -> None:
    status, stderr = await relay_exit(
        {"COSMOSDB_ENDPOINT": "https://127.0.0.1:9/", "COSMOSDB_KEY": "not a base64 key"},
        tmp_path,
    )
    assert status == 1, stderr
    assert "the relay could not start: cannot connect to Cosmos DB" in stderr
    assert "base64" in stderr
    assert "Traceback" not in stderr


async def test_a_data_dir_that_cannot_be_written_does_not_stop_the_voice(tmp_path: Path) -> None:
    """No spool and no SQLite file: calls are still relayed, and the operator is told."""
    not_a_directory = tmp_path / "data"
    not_a_directory.write_text("")
    async with running_relay(relay_settings(not_a_directory)) as relay:
        async with connect(relay, customer_id="no-disk") as client:
            turn = await client.say("Can you still hear me?")
            await client.hang_up()
        await relay.wait_calls_ended()
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            ready = await http.get(f"http://127.0.0.1:{relay.port}/readyz")
        recorder = relay.app.relay.recorder
    assert turn[-1]["response"]["status"] == "completed"
    assert ready.status_code == 200
    body = ready.json()
    assert body["spool"]["writable"] is False
    assert body["store"]["state"] == "unavailable"
    assert recorder.lost == 1  # neither the store nor the spool could take it: said, counted
