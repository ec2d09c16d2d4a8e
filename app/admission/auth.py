"""Who may call and who may read the logs.

* Calls: with ``CALL_TOKEN_SECRET`` set, ``/api/realtime`` requires ``?token=`` — a JWT signed
  HS256 whose ``sub`` is the customer id and which carries ``exp`` (verified with PyJWT, which
  checks expiry and algorithm for us).  Without it, ``?customer_id=`` is trusted (a warning is
  logged at start-up).
* Admin: with ``ADMIN_TOKEN`` set, ``Authorization: Bearer <token>``; without it, only clients
  connecting from loopback.
* Origins: browsers send ``Origin`` on the websocket handshake; a page from another site must not
  be able to open calls on a user's behalf.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable

import jwt

CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,128}")


class AuthError(Exception):
    """The request is not allowed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def customer_for_call(query: dict[str, str], secret: str | None) -> str | None:
    """The customer id of a call request, or None for an anonymous caller."""
    if secret is not None:
        token = query.get("token")
        if not token:
            raise AuthError(401, "a ?token= (JWT) is required")
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "the call token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, f"the call token is invalid: {exc}") from None
        return _valid_customer(str(claims["sub"]))
    customer = query.get("customer_id")
    return _valid_customer(customer) if customer else None


def _valid_customer(customer: str) -> str:
    if not CUSTOMER_ID.fullmatch(customer):
        raise AuthError(
            400, "customer_id must be 1-128 characters of letters, digits and _ . @ : -"
        )
    return customer


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_admin(authorization: str | None, client_host: str | None, token: str | None) -> None:
    """Raise `AuthError` unless the request may use the admin API."""
    if token is None:
        if not is_loopback(client_host):
            raise AuthError(403, "admin is only available from loopback when ADMIN_TOKEN is unset")
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise AuthError(401, "a valid 'Authorization: Bearer <ADMIN_TOKEN>' header is required")


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str] | None) -> bool:
    """Whether a websocket handshake's ``Origin`` may open a call.

    No ``Origin``: a non-browser client, allowed.  With ``ALLOWED_ORIGINS``: exact match.
    Otherwise: the page must come from the host it connects to.
    """
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed is not None:
        return origin in allowed
    _, _, origin_host = origin.partition("://")
    return host is not None and origin_host.lower() == host.lower()
