"""Per-call tokens: what lets a provider's media socket (or callback) in.

When the relay answers a phone call it hands the provider the address of the call's media
socket, and with it a token only that call can present: a JWT (HS256) naming the purpose, the
provider's call id and the caller's customer id, valid for `MEDIA_TOKEN_TTL` seconds (the
provider connects within a second or two).  The key is derived from a secret the relay already
has for that provider (Twilio: the auth token), per purpose, so several workers or replicas
accept each other's tokens and no new setting is needed.  A socket without a valid token, or
with one minted for another call, is refused and logged.

The customer id travels inside the token, so the caller's number is read once, from the signed
webhook, and never carried anywhere else.
"""

from __future__ import annotations

import hmac

import attrs
import jwt

__all__ = ["MEDIA_TOKEN_TTL", "CallToken", "InvalidCallToken", "mint", "verify"]

#: Seconds a minted token may wait for its socket.
MEDIA_TOKEN_TTL = 60
_ALGORITHM = "HS256"


class InvalidCallToken(Exception):
    """A missing, forged, expired or misdirected per-call token (why, for the log)."""


@attrs.frozen
class CallToken:
    call_id: str
    customer_id: str | None


def _key(secret: str, purpose: str) -> bytes:
    label = f"voice-relay call token: {purpose}".encode()
    return hmac.new(secret.encode(), label, "sha256").digest()


def mint(secret: str, purpose: str, call_id: str, customer_id: str | None, *, now: float) -> str:
    """A token for ``call_id``'s ``purpose`` (e.g. ``twilio-media``), valid from ``now``."""
    claims = {
        "pur": purpose,
        "call": call_id,
        "sub": customer_id or "",
        "iat": int(now),
        "exp": int(now) + MEDIA_TOKEN_TTL,
    }
    return jwt.encode(claims, _key(secret, purpose), algorithm=_ALGORITHM)


def verify(secret: str, purpose: str, token: str | None, call_id: str) -> CallToken:
    """The token's facts, if it is valid for ``purpose`` and ``call_id`` now.

    Raises:
        InvalidCallToken: with the reason, for the log (never for the peer).
    """
    if not token:
        raise InvalidCallToken("no token")
    try:
        claims = jwt.decode(
            token,
            _key(secret, purpose),
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "pur", "call", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidCallToken("expired token") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidCallToken(f"invalid token ({type(exc).__name__})") from None
    if claims.get("pur") != purpose:
        raise InvalidCallToken("token for another purpose")
    if not hmac.compare_digest(str(claims.get("call")), call_id):
        raise InvalidCallToken("token for another call")
    subject = claims.get("sub")
    customer_id = subject if isinstance(subject, str) and subject else None
    return CallToken(call_id=call_id, customer_id=customer_id)
