"""The ACS calls a process keeps: lines without a stream here are bounded, oldest first."""

from __future__ import annotations

from app.phone.acs_auth import AcsSignatures, CallTokens
from app.phone.acs_client import AcsClient
from app.phone.acs_routes import AcsPhone
from app.phone.caller_id import CallerIds


def test_lines_without_a_stream_are_bounded() -> None:
    tokens = CallTokens.from_webhook_key("k" * 40, 60)
    phone = AcsPhone(
        webhook_key="k" * 40,
        public_base_url="https://relay.example.test",
        caller_ids=CallerIds(b"s" * 32),
        tokens=tokens,
        signatures=AcsSignatures(audience="resource", jwks_url="https://127.0.0.1:9/keys"),
        automation=AcsClient.from_connection_string("endpoint=https://127.0.0.1:9/;accesskey=eA=="),
        max_idle_lines=3,
    )
    streaming = phone.line(tokens.check(tokens.issue("c0", None)))
    streaming.call = object()  # type: ignore[assignment]  # a call with its stream here: kept
    claims = [tokens.check(tokens.issue(f"c{n}", None)) for n in range(1, 6)]
    for claim in claims:
        phone.line(claim)
    assert [line.correlation_id for line in phone.lines.values()] == ["c0", "c3", "c4", "c5"]
    assert phone.line(claims[-1]).correlation_id == "c5" and len(phone.lines) == 4


def test_urls_carry_the_token_on_the_public_address() -> None:
    phone = AcsPhone(
        webhook_key="k" * 40,
        public_base_url="https://relay.example.test/",
        caller_ids=CallerIds(b"s" * 32),
        tokens=CallTokens.from_webhook_key("k" * 40, 60),
        signatures=AcsSignatures(audience="resource", jwks_url="https://127.0.0.1:9/keys"),
        automation=AcsClient.from_connection_string("endpoint=https://127.0.0.1:9/;accesskey=eA=="),
    )
    assert phone.media_url("a.b-c") == "wss://relay.example.test/api/phone/acs/media?token=a.b-c"
    assert (
        phone.callback_url("a.b-c")
        == "https://relay.example.test/api/phone/acs/callbacks?token=a.b-c"
    )
