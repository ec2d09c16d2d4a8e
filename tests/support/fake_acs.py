"""A local Azure Communication Services for tests: the Call Automation REST API the SDK talks to,
the JWKS Call Automation's tokens are checked against, and the platform's side of a call.

`fake_acs` serves HTTPS on 127.0.0.1 port 0 (hypercorn, in the test's own trio run; a trustme
certificate authority, whose file `acs_environment` names to ``requests`` and ``urllib``: the SDK
takes only the host from a connection string and always speaks https):

* ``POST /calling/callConnections:answer`` and ``:reject``, ``GET`` and ``DELETE
  /calling/callConnections/{id}``, ``POST /calling/callConnections/{id}:terminate``: what
  ``CallAutomationClient.answer_call``, ``reject_call``, ``get_call_properties`` and ``hang_up``
  send.  Every request must carry the SDK's HMAC-SHA256 signature (``x-ms-date``, ``host``,
  ``x-ms-content-sha256``, keyed with the connection string's access key), checked exactly as
  the service does, or the Entra ID token of `bearer_token`; any other request gets 401 and is
  recorded as refused.
* ``GET /calling/keys``: the JWKS of the RSA key the fake signs its callbacks and media
  connections with (the relay's ``ACS_JWKS_URL`` points here).

Then `FakeAcs` acts as the platform: `incoming_call` is the Event Grid post a phone call
causes, `post_callback` posts a Call Automation event to the callback URL the relay gave when
it answered, `open_media` opens the media websocket to the URL it gave, with the headers ACS
sends (a signed ``Authorization`` JWT, ``x-ms-call-connection-id``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit, urlunsplit

import attrs
import httpx
import jwt
import pytest
import trio
import trio_websocket
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from hypercorn.config import Config
from hypercorn.trio import serve

from app.phone.acs_auth import ACS_ISSUER
from tests.support.speech import PCM16_24K, spoken

IO_TIMEOUT = 10.0
#: How far the SDK's ``x-ms-date`` may be from the fake's clock (the service allows 15 min).
DATE_SKEW = 15 * 60

Scope = dict[str, Any]


@attrs.define(eq=False)
class FakeCall:
    """A call the relay answered, as the fake keeps it."""

    call_connection_id: str
    correlation_id: str
    context: str
    callback_uri: str
    #: ``mediaStreamingOptions`` of the answer request, as the SDK sent them.
    media: dict[str, Any]
    state: str = "connected"
    #: How the relay hung up, if it did: "terminate" (for everyone) or "hangup".
    hung_up_by_relay: str | None = None
    ended: trio.Event = attrs.field(factory=trio.Event)

    @property
    def media_url(self) -> str:
        return str(self.media["transportUrl"])


@attrs.define(eq=False)
class FakeAcs:
    port: int
    access_key: bytes = attrs.field(repr=False)
    resource_id: str
    _signing_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    kid: str = "fake-acs-key"
    calls: dict[str, FakeCall] = attrs.field(factory=dict)
    #: (method, path, status) of every request, refused ones included.
    requests: list[tuple[str, str, int]] = attrs.field(factory=list)
    answered: trio.Event = attrs.field(factory=trio.Event)
    #: The reasons of the calls the relay rejected, in order.
    rejected: list[str] = attrs.field(factory=list)
    _contexts: dict[str, str] = attrs.field(factory=dict)

    #: The Entra ID token the fake accepts instead of an HMAC signature (None: HMAC only).
    bearer_token: str | None = None
    #: The certificate authority of the fake's TLS certificate (a PEM file).
    ca_file: str = ""
    #: The relay's public address and the loopback port it really listens on: ACS reaches
    #: ``https://relay.example.test`` through DNS and a TLS-terminating proxy; here through this.
    public_base_url: str = "https://relay.example.test"
    relay_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def connection_string(self) -> str:
        key = base64.b64encode(self.access_key).decode()
        return f"endpoint={self.endpoint}/;accesskey={key}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/calling/keys"

    def local(self, url: str) -> str:
        """``url`` (an address on the relay's public host) as the loopback address behind it."""
        public = urlsplit(self.public_base_url)
        parts = urlsplit(url)
        assert parts.netloc == public.netloc, f"{url} is not on {self.public_base_url}"
        scheme = {"https": "http", "wss": "ws"}[parts.scheme]
        return urlunsplit((scheme, f"127.0.0.1:{self.relay_port}", parts.path, parts.query, ""))

    @property
    def sdk_requests(self) -> list[tuple[str, str, int]]:
        """The Call Automation requests (the JWKS fetches left out)."""
        return [r for r in self.requests if r[1] != "/calling/keys"]

    @property
    def refused(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[2] == 401]

    # -- the platform's side --------------------------------------------------------------------

    def token(self, *, audience: str | None = None, key: rsa.RSAPrivateKey | None = None) -> str:
        """A JWT as Call Automation signs its callbacks and media connections."""
        now = int(time.time())
        claims = {
            "iss": ACS_ISSUER,
            "aud": audience or self.resource_id,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        return jwt.encode(
            claims, key or self._signing_key, algorithm="RS256", headers={"kid": self.kid}
        )

    def incoming_call(self, caller: str, *, correlation_id: str | None = None) -> bytes:
        """The Event Grid post (Event Grid schema) for a call from ``caller`` to the number."""
        correlation = correlation_id or str(uuid.uuid4())
        context = base64.b64encode(uuid.uuid4().bytes).decode()
        self._contexts[context] = correlation
        data = {
            "to": {
                "kind": "phoneNumber",
                "rawId": "4:+18005550100",
                "phoneNumber": {"value": "+18005550100"},
            },
            "from": {
                "kind": "phoneNumber",
                "rawId": f"4:{caller}",
                "phoneNumber": {"value": caller},
            },
            "serverCallId": base64.b64encode(uuid.uuid4().bytes).decode(),
            "callerDisplayName": "",
            "incomingCallContext": context,
            "correlationId": correlation,
        }
        return json.dumps([_event_grid("Microsoft.Communication.IncomingCall", data)]).encode()

    @staticmethod
    def validation(code: str) -> bytes:
        data = {"validationCode": code, "validationUrl": "https://example.invalid/validate"}
        return json.dumps(
            [_event_grid("Microsoft.EventGrid.SubscriptionValidationEvent", data)]
        ).encode()

    def callback_body(self, call: FakeCall, kind: str, **data: Any) -> bytes:
        payload = {
            "callConnectionId": call.call_connection_id,
            "serverCallId": "server-call",
            "correlationId": call.correlation_id,
            **data,
        }
        event = {
            "id": str(uuid.uuid4()),
            "source": f"calling/callConnections/{call.call_connection_id}",
            "type": f"Microsoft.Communication.{kind}",
            "data": payload,
            "time": "2026-12-06T12:00:00.000Z",
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "subject": f"calling/callConnections/{call.call_connection_id}",
        }
        return json.dumps([event]).encode()

    async def post_callback(
        self,
        call: FakeCall,
        kind: str,
        *,
        url: str | None = None,
        token: str | None = "signed",
        **data: Any,
    ) -> httpx.Response:
        """Post a Call Automation event about ``call`` to its callback URL, signed as ACS does
        (``token=None``: unsigned; any other string: sent as is)."""
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {self.token() if token == 'signed' else token}"
        async with httpx.AsyncClient(timeout=IO_TIMEOUT) as http:
            return await http.post(
                url or self.local(call.callback_uri),
                content=self.callback_body(call, kind, **data),
                headers=headers,
            )

    @asynccontextmanager
    async def open_media(
        self, call: FakeCall, *, url: str | None = None, token: str | None = "signed"
    ) -> AsyncIterator[trio_websocket.WebSocketConnection]:
        """The media websocket ACS opens for ``call``, with the headers ACS sends.

        The TCP stream is the fake's own and closed on the way out: trio-websocket leaves a
        client's stream open when the server closes first.
        """
        headers = [
            (b"x-ms-call-connection-id", call.call_connection_id.encode()),
            (b"x-ms-call-correlation-id", call.correlation_id.encode()),
        ]
        if token is not None:
            value = self.token() if token == "signed" else token
            headers.append((b"authorization", f"Bearer {value}".encode()))
        parts = urlsplit(url or self.local(call.media_url))
        resource = parts.path + (f"?{parts.query}" if parts.query else "")
        assert parts.hostname is not None and parts.port is not None
        with trio.fail_after(IO_TIMEOUT):
            stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        try:
            with trio.fail_after(IO_TIMEOUT):
                connection = await trio_websocket.wrap_client_stream(
                    self._nursery, stream, parts.netloc, resource, extra_headers=headers
                )
            try:
                yield connection
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(IO_TIMEOUT):
                    await connection.aclose()
        finally:
            await stream.aclose()

    _nursery: trio.Nursery = attrs.field(init=False, repr=False)

    # -- the REST API ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = self._handle(scope, body)
        self.requests.append((scope["method"], scope["path"], status))
        payload = json.dumps(answer).encode() if answer is not None else b""
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _handle(self, scope: Scope, body: bytes) -> tuple[int, Any]:
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/calling/keys":
            return 200, {"keys": [self._jwk()]}
        problem = self._signature_problem(scope, body)
        if problem is not None:
            return 401, {"error": {"code": "Unauthorized", "message": problem}}
        if method == "POST" and path == "/calling/callConnections:answer":
            return self._answer(json.loads(body))
        if method == "POST" and path == "/calling/callConnections:reject":
            request = json.loads(body)
            if self._contexts.pop(request.get("incomingCallContext"), None) is None:
                return 400, {"error": {"code": "8523", "message": "Invalid incoming call context"}}
            self.rejected.append(str(request.get("callRejectReason")))
            return 204, None
        prefix = "/calling/callConnections/"
        if not path.startswith(prefix):
            return 404, {"error": {"code": "NotFound", "message": path}}
        name, _, action = path[len(prefix) :].partition(":")
        call = self.calls.get(name)
        if call is None or call.state == "disconnected":
            return 404, {"error": {"code": "8522", "message": "Call not found"}}
        if method == "GET" and not action:
            return 200, self._properties(call)
        if (method, action) in (("DELETE", ""), ("POST", "terminate")):
            call.hung_up_by_relay = "hangup" if method == "DELETE" else "terminate"
            call.state = "disconnected"
            call.ended.set()
            return 204, None
        return 404, {"error": {"code": "NotFound", "message": path}}

    def _answer(self, request: dict[str, Any]) -> tuple[int, Any]:
        context = request.get("incomingCallContext")
        if context not in self._contexts:
            return 400, {"error": {"code": "8523", "message": "Invalid incoming call context"}}
        call = FakeCall(
            call_connection_id=str(uuid.uuid4()),
            correlation_id=self._contexts.pop(context),
            context=context,
            callback_uri=request["callbackUri"],
            media=request.get("mediaStreamingOptions") or {},
        )
        self.calls[call.call_connection_id] = call
        self.answered.set()
        return 200, self._properties(call)

    def _properties(self, call: FakeCall) -> dict[str, Any]:
        return {
            "callConnectionId": call.call_connection_id,
            "serverCallId": "server-call",
            "callConnectionState": call.state,
            "callbackUri": call.callback_uri,
            "correlationId": call.correlation_id,
            "targets": [],
        }

    def _signature_problem(self, scope: Scope, body: bytes) -> str | None:
        """Why the request is not signed as the service requires; None when it is."""
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            # Entra ID: the token of the identity the fake trusts (tests.support.credentials).
            if self.bearer_token is None or authorization[7:] != self.bearer_token:
                return "an Entra ID token the resource does not accept"
            return None
        date, digest = headers.get("x-ms-date"), headers.get("x-ms-content-sha256")
        if date is None or digest is None or not authorization.startswith("HMAC-SHA256 "):
            return "no HMAC-SHA256 signature"
        fields = dict(part.split("=", 1) for part in authorization[12:].split("&") if "=" in part)
        if fields.get("SignedHeaders") != "x-ms-date;host;x-ms-content-sha256":
            return "unexpected SignedHeaders"
        expected_digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if not hmac.compare_digest(digest, expected_digest):
            return "x-ms-content-sha256 does not match the body"
        sent = time.mktime(time.strptime(date, "%a, %d %b %Y %H:%M:%S GMT")) - time.timezone
        if abs(sent - time.time()) > DATE_SKEW:
            return "x-ms-date is too far from now"
        target = scope["raw_path"].decode()
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode()
        to_sign = f"{scope['method']}\n{target}\n{date};{headers.get('host')};{digest}"
        signature = base64.b64encode(
            hmac.new(self.access_key, to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(fields.get("Signature", ""), signature):
            return "the HMAC signature does not match"
        if "api-version" not in parse_qs(scope["query_string"].decode()):
            return "no api-version"
        return None

    def _jwk(self) -> dict[str, Any]:
        jwk = cast(
            dict[str, Any],
            json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._signing_key.public_key())),
        )
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def _event_grid(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/0000/resourceGroups/rg/providers/"
        "Microsoft.Communication/communicationServices/acs",
        "subject": "/caller/phone/to/number",
        "data": data,
        "eventType": event_type,
        "eventTime": "2026-12-06T12:00:00.0000000Z",
        "metadataVersion": "1",
        "dataVersion": "1.0",
    }


def new_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@asynccontextmanager
async def fake_acs(resource_id: str | None = None) -> AsyncIterator[FakeAcs]:
    """Serve a fake ACS on 127.0.0.1 (a free port, HTTPS) until the block exits."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    with (
        ca.cert_pem.tempfile() as ca_file,
        server_cert.cert_chain_pems[0].tempfile() as cert_file,
        server_cert.private_key_pem.tempfile() as key_file,
    ):
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.certfile, config.keyfile = cert_file, key_file
        config.accesslog = None
        config.errorlog = None
        async with _serving(config, resource_id, ca_file) as fake:
            yield fake


@asynccontextmanager
async def _serving(config: Config, resource_id: str | None, ca_file: str) -> AsyncIterator[FakeAcs]:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        fake = FakeAcs(
            port=0,
            access_key=uuid.uuid4().bytes + uuid.uuid4().bytes,
            resource_id=resource_id or str(uuid.uuid4()),
            signing_key=new_signing_key(),
            ca_file=ca_file,
        )
        fake._nursery = nursery
        binds = await nursery.start(
            lambda task_status: serve(
                cast(Any, fake), config, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        fake.port = urlsplit(binds[0]).port or 0
        try:
            yield fake
        finally:
            stop.set()


def acs_environment(monkeypatch: pytest.MonkeyPatch, fake: FakeAcs) -> None:
    """Make this process trust the fake's certificate: ``requests`` (the SDK's transport) reads
    ``REQUESTS_CA_BUNDLE``, ``urllib`` (PyJWT's JWKS client) OpenSSL's ``SSL_CERT_FILE``."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
    monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)


def speech_pcm24k(text: str) -> bytes:
    """``text`` spoken by espeak-ng, as raw PCM16 24 kHz mono (what ACS streams with
    ``PCM24KMono``)."""
    return spoken(text, PCM16_24K)


def audio_metadata() -> str:
    """The first message ACS sends on a media socket answered with ``PCM24KMono``."""
    return json.dumps(
        {
            "kind": "AudioMetadata",
            "audioMetadata": {
                "subscriptionId": str(uuid.uuid4()),
                "encoding": "PCM",
                "sampleRate": 24000,
                "channels": 1,
                "length": 960,
            },
        }
    )


def audio_data(pcm: bytes) -> str:
    """One ``AudioData`` message of the caller's audio, as ACS sends it."""
    return json.dumps(
        {
            "kind": "AudioData",
            "audioData": {
                "timestamp": "2026-12-06T12:00:00.000Z",
                "participantRawID": "4:+15551234567",
                "data": base64.b64encode(pcm).decode(),
                "silent": not any(pcm),
            },
        }
    )
