"""Per-call tokens: only the call they were minted for, only for a while, only with the key."""

from __future__ import annotations

import time

import pytest

from app.phone import tokens

SECRET = "twilio-auth-token"


def test_a_fresh_token_names_its_call_and_customer() -> None:
    token = tokens.mint(SECRET, "twilio-media", "CA1", "tel:abc", now=time.time())
    assert tokens.verify(SECRET, "twilio-media", token, "CA1") == tokens.CallToken("CA1", "tel:abc")
    anonymous = tokens.mint(SECRET, "twilio-media", "CA2", None, now=time.time())
    assert tokens.verify(SECRET, "twilio-media", anonymous, "CA2").customer_id is None


@pytest.mark.parametrize(
    ("secret", "purpose", "call", "age", "why"),
    [
        ("other-secret", "twilio-media", "CA1", 0, "invalid token"),
        (SECRET, "acs-media", "CA1", 0, "invalid token"),
        (SECRET, "twilio-media", "CA9", 0, "another call"),
        (SECRET, "twilio-media", "CA1", tokens.MEDIA_TOKEN_TTL + 5, "expired"),
    ],
)
def test_refused(secret: str, purpose: str, call: str, age: float, why: str) -> None:
    token = tokens.mint(SECRET, "twilio-media", "CA1", "c", now=time.time() - age)
    with pytest.raises(tokens.InvalidCallToken, match=why):
        tokens.verify(secret, purpose, token, call)


@pytest.mark.parametrize("token", [None, "", "not-a-jwt"])
def test_missing_or_garbage(token: str | None) -> None:
    with pytest.raises(tokens.InvalidCallToken):
        tokens.verify(SECRET, "twilio-media", token, "CA1")
