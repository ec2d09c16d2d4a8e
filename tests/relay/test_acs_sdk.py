"""The relay's Call Automation client (the real SDK) and its check of ACS's signatures, against
the local fake of the service (`tests.support.fake_acs`): requests signed with the connection
string's key, answered with bidirectional PCM 24 kHz streaming, hung up; tokens checked against
the fake's JWKS."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator

import pytest
import trio

from app.phone.acs_auth import AcsSignatures, SignatureError
from app.phone.acs_client import AcsClient, CallAutomationError
from tests.support.credentials import TOKEN, FakeCredential
from tests.support.fake_acs import FakeAcs, acs_environment, fake_acs, new_signing_key


@pytest.fixture
async def acs(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAcs]:
    async with fake_acs() as fake:
        acs_environment(monkeypatch, fake)
        yield fake


async def answered_call(acs: FakeAcs, client: AcsClient) -> str:
    body = acs.incoming_call("+15551230000")
    context = json.loads(body)[0]["data"]["incomingCallContext"]
    return await client.answer(
        context,
        "http://127.0.0.1:9/api/phone/acs/callbacks?token=t",
        "ws://127.0.0.1:9/api/phone/acs/media?token=t",
    )


async def test_answer_sends_signed_request_with_bidirectional_pcm24k_streaming(
    acs: FakeAcs,
) -> None:
    client = AcsClient.from_connection_string(acs.connection_string)
    connection_id = await answered_call(acs, client)
    call = acs.calls[connection_id]
    assert call.callback_uri.endswith("/api/phone/acs/callbacks?token=t")
    assert call.media == {
        "transportUrl": "ws://127.0.0.1:9/api/phone/acs/media?token=t",
        "transportType": "websocket",
        "contentType": "audio",
        "audioChannelType": "mixed",
        "startMediaStreaming": True,
        "enableBidirectional": True,
        "audioFormat": "pcm24KMono",
    }
    assert await client.is_connected(connection_id)
    await client.hang_up(connection_id)
    assert call.hung_up_by_relay == "terminate"
    assert not await client.is_connected(connection_id)
    assert acs.refused == []


async def test_a_wrong_access_key_is_refused_by_the_fake(acs: FakeAcs) -> None:
    wrong = base64.b64encode(b"x" * 32).decode()
    client = AcsClient.from_connection_string(f"endpoint={acs.endpoint}/;accesskey={wrong}")
    with pytest.raises(CallAutomationError, match="answer the call"):
        await answered_call(acs, client)
    assert acs.calls == {}
    assert acs.refused and acs.refused[0][1] == "/calling/callConnections:answer"


async def test_signatures_are_checked_against_the_jwks(acs: FakeAcs) -> None:
    signatures = AcsSignatures(audience=acs.resource_id, jwks_url=acs.jwks_url)
    claims = await signatures.check(f"Bearer {acs.token()}")
    assert claims["aud"] == acs.resource_id
    for header, problem in [
        (None, "no 'Authorization: Bearer'"),
        ("Bearer", "no 'Authorization: Bearer'"),
        (f"Bearer {acs.token(audience='another-resource')}", "Audience"),
        (f"Bearer {acs.token(key=new_signing_key())}", "Signature verification failed"),
        ("Bearer not-a-jwt", "invalid"),
    ]:
        with pytest.raises(SignatureError, match=problem):
            await signatures.check(header)


async def test_unreachable_jwks_is_a_signature_error(acs: FakeAcs) -> None:
    signatures = AcsSignatures(audience="r", jwks_url="https://127.0.0.1:9/calling/keys")
    token = acs.token()
    with trio.fail_after(10), pytest.raises(SignatureError, match="could not be fetched"):
        await signatures.check(f"Bearer {token}")


async def test_with_acs_endpoint_the_sdk_uses_the_entra_credential(acs: FakeAcs) -> None:
    """ACS_ENDPOINT: no key, the relay's identity; the credential is made once, in a worker
    thread, and asked for Communication Services' scope."""
    acs.bearer_token = TOKEN
    made: list[FakeCredential] = []

    def credential() -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    client = AcsClient.from_endpoint(acs.endpoint, credential)
    connection_id = await answered_call(acs, client)
    await client.hang_up(connection_id)
    assert acs.calls[connection_id].hung_up_by_relay == "terminate"
    [identity] = made
    assert identity.made_in != threading.get_ident()  # never on the event loop
    assert set(identity.scopes) == {("https://communication.azure.com//.default",)}
    acs.bearer_token = "another-token"
    with pytest.raises(CallAutomationError, match="hang up"):
        await client.hang_up(connection_id)
