"""Who may post to the ACS routes and open the ACS media socket.

Three checks, each before anything is parsed or any call is touched:

* The Event Grid webhook carries ``?key=ACS_WEBHOOK_KEY`` (the subscription's URL holds it):
  `webhook_key_ok`, compared in constant time.
* The callback and media URLs the relay hands to ACS when it answers carry ``?token=``: a
  per-call token (`CallTokens`), a JWT signed HS256 with a key derived from ``ACS_WEBHOOK_KEY``,
  so any worker process of the relay can check it without shared state.  It names the call (its
  correlation id and a random ``jti``) and the caller's customer id (already hashed), and expires
  with the longest call the relay allows.  Guessing one means forging an HMAC.
* ACS signs what it sends with a JWT in ``Authorization: Bearer`` (RS256, issuer
  ``https://acscallautomation.communication.azure.com``, audience the resource's immutable id,
  keys from the JWKS at ``/calling/keys``): `AcsSignatures` checks it.  The JWKS URL is a
  setting (``ACS_JWKS_URL``) so tests serve their own keys on loopback.  PyJWT's `PyJWKClient`
  fetches and caches the keys; it is synchronous, so it runs in a worker thread, bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any

import attrs
import jwt
import trio

__all__ = [
    "ACS_ISSUER",
    "AcsSignatures",
    "CallClaims",
    "CallTokens",
    "SignatureError",
    "webhook_key_ok",
]

log = logging.getLogger(__name__)

#: The issuer of the tokens Call Automation signs its callbacks and media connections with.
ACS_ISSUER = "https://acscallautomation.communication.azure.com"
ACS_JWKS_URL = f"{ACS_ISSUER}/calling/keys"
#: Bound on one JWKS fetch (PyJWT's own timeout) and on the thread that runs it.
JWKS_TIMEOUT = 5.0
#: How long fetched keys are reused before the JWKS is fetched again.
JWKS_LIFESPAN = 3600.0
#: Slack for the clocks of ACS and of this machine when checking ``exp`` and ``nbf``.
CLOCK_LEEWAY = 30.0
_TOKEN_KEY_LABEL = b"voice-relay/acs-call-token/v1"


class SignatureError(Exception):
    """A request ACS did not sign, or whose signature does not check out; the message says why."""


def webhook_key_ok(given: str | None, expected: str) -> bool:
    """Whether the webhook's ``?key=`` is ``ACS_WEBHOOK_KEY`` (constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@attrs.frozen
class CallClaims:
    """What a valid per-call token says: the call, the token's id, and the customer."""

    correlation_id: str
    token_id: str
    customer_id: str | None


@attrs.frozen
class CallTokens:
    """Issues and checks per-call tokens (HS256, key derived from ``ACS_WEBHOOK_KEY``)."""

    _key: bytes = attrs.field(repr=False)
    lifetime: float

    @classmethod
    def from_webhook_key(cls, webhook_key: str, lifetime: float) -> CallTokens:
        key = hmac.new(webhook_key.encode(), _TOKEN_KEY_LABEL, hashlib.sha256).digest()
        return cls(key, lifetime)

    def issue(self, correlation_id: str, customer_id: str | None, now: float | None = None) -> str:
        issued = time.time() if now is None else now
        claims: dict[str, Any] = {
            "cid": correlation_id,
            "jti": secrets.token_urlsafe(16),
            "iat": int(issued),
            "exp": int(issued + self.lifetime),
        }
        if customer_id is not None:
            claims["sub"] = customer_id
        return jwt.encode(claims, self._key, algorithm="HS256")

    def check(self, token: str | None) -> CallClaims:
        """The claims of a valid token; raises `SignatureError` saying what is wrong."""
        if not token:
            raise SignatureError("no ?token=")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"require": ["exp", "cid", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise SignatureError("the call token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise SignatureError(f"the call token is invalid: {exc}") from None
        sub = claims.get("sub")
        return CallClaims(
            correlation_id=str(claims["cid"]),
            token_id=str(claims["jti"]),
            customer_id=str(sub) if sub is not None else None,
        )


@attrs.define(eq=False)
class AcsSignatures:
    """Checks the JWT Call Automation puts in ``Authorization`` on callbacks and media sockets."""

    audience: str
    jwks_url: str = ACS_JWKS_URL
    issuer: str = ACS_ISSUER
    _client: jwt.PyJWKClient = attrs.field(init=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        init=False, factory=lambda: trio.CapacityLimiter(4)
    )

    def __attrs_post_init__(self) -> None:
        self._client = jwt.PyJWKClient(
            self.jwks_url,
            cache_keys=True,
            lifespan=JWKS_LIFESPAN,
            timeout=JWKS_TIMEOUT,
        )

    async def check(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims; raises `SignatureError` for a missing or invalid signature."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise SignatureError("no 'Authorization: Bearer' token from ACS")
        with trio.move_on_after(JWKS_TIMEOUT + 1) as scope:
            claims = await trio.to_thread.run_sync(
                self._verify, token, limiter=self._limiter, abandon_on_cancel=True
            )
        if scope.cancelled_caught:
            raise SignatureError(f"the ACS signing keys did not arrive from {self.jwks_url}")
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        """In a worker thread: fetch the key (cached) and verify the token."""
        try:
            key = self._client.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.audience,
                leeway=CLOCK_LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise SignatureError(f"the ACS signing keys could not be fetched: {exc}") from None
        except jwt.PyJWKClientError as exc:
            raise SignatureError(f"no ACS signing key for this token: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise SignatureError(f"the ACS token is invalid: {exc}") from None
        return claims
