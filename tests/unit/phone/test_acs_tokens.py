"""The per-call token of an ACS call: any worker checks it, nobody forges it, it expires."""

from __future__ import annotations

import time

import pytest

from app.phone.acs_auth import CallTokens, SignatureError, webhook_key_ok

KEY = "k" * 40


def test_a_token_names_its_call_and_customer() -> None:
    tokens = CallTokens.from_webhook_key(KEY, lifetime=3600)
    claims = CallTokens.from_webhook_key(KEY, lifetime=60).check(tokens.issue("corr", "tel:ab"))
    assert (claims.correlation_id, claims.customer_id) == ("corr", "tel:ab")
    other = tokens.check(tokens.issue("corr", None))
    assert other.customer_id is None and other.token_id != claims.token_id


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (None, "no \\?token="),
        ("", "no \\?token="),
        ("abc", "invalid"),
        (CallTokens.from_webhook_key("x" * 40, 60).issue("corr", None), "Signature"),
        (
            CallTokens.from_webhook_key(KEY, 60).issue("corr", None, now=time.time() - 120),
            "expired",
        ),
    ],
)
def test_bad_tokens_are_refused(token: str | None, problem: str) -> None:
    with pytest.raises(SignatureError, match=problem):
        CallTokens.from_webhook_key(KEY, 60).check(token)


def test_webhook_key() -> None:
    assert webhook_key_ok(KEY, KEY)
    assert not webhook_key_ok(None, KEY)
    assert not webhook_key_ok("", KEY)
    assert not webhook_key_ok(KEY[:-1], KEY)

