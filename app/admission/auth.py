"""Who may call and who may read the logs.

* Calls: with ``CALL_TOKEN_SECRET`` set, ``/api/realtime`` requires ``?token=`` — a JWT signed
  HS256 whose ``sub`` is the customer id and which carries ``exp`` (verified with PyJWT, which
  checks expiry and algorithm for us) no further ahead than ``CALL_TOKEN_MAX_LIFETIME``, and,
  when configured, the ``iss`` and ``aud`` of ``CALL_TOKEN_ISSUER`` / ``CALL_TOKEN_AUDIENCE``.
  Without it, ``?customer_id=`` is trusted (a warning is logged at start-up).
* Admin: with ``ADMIN_TOKEN`` set, ``Authorization: Bearer <token>`` (compared as bytes, so any
  header value is a plain 401, never an error); without it, only clients connecting from
  loopback *and* addressing the relay by a loopback name (``localhost``, ``127.0.0.1``,
  ``[::1]``), from no other site: a hostile page whose name an attacker rebinds to 127.0.0.1
  (DNS rebinding) sends its own name as ``Host`` and is refused, and so is a cross-site request
  (``Origin`` of another host, ``Sec-Fetch-Site: cross-site``).
* Origins: browsers send ``Origin`` on the websocket handshake; a page from another site must not
  be able to open calls on a user's behalf.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import time
from collections.abc import Iterable

import jwt

CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,128}")


class AuthError(Exception):
    """The request is not allowed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: The longest a call token may be valid for, from now, unless the settings say otherwise.
MAX_TOKEN_LIFETIME = 3600.0


def customer_for_call(
    query: dict[str, str],
    secret: str | None,
    *,
    max_lifetime: float = MAX_TOKEN_LIFETIME,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
) -> str | None:
    """The customer id of a call request, or None for an anonymous caller."""
    if secret is not None:
        token = query.get("token")
        if not token:
            raise AuthError(401, "a ?token= (JWT) is required")
        required = ["exp", "sub", *(["iss"] if issuer else []), *(["aud"] if audience else [])]
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"require": required},
                issuer=issuer,
                audience=audience,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "the call token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, f"the call token is invalid: {exc}") from None
        remaining = float(claims["exp"]) - (time.time() if now is None else now)
        if remaining > max_lifetime:
            raise AuthError(
                401,
                f"the call token is valid for too long ({remaining:.0f} s; at most "
                f"{max_lifetime:.0f} s, CALL_TOKEN_MAX_LIFETIME)",
            )
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


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback_name(host: str | None) -> bool:
    """Whether a ``Host`` header (name or address, optional port) names this machine's loopback.

    ``localhost`` and names under ``.localhost`` (RFC 6761: never sent to DNS by browsers),
    and loopback addresses.  Any other name may be an attacker's, rebound to 127.0.0.1.
    """
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    return is_loopback(name)


def check_admin(
    authorization: str | None,
    client_host: str | None,
    token: str | None,
    *,
    host: str | None = None,
    origin: str | None = None,
    fetch_site: str | None = None,
) -> None:
    """Raise `AuthError` unless the request may use the admin API.

    ``host``, ``origin`` and ``fetch_site`` are the request's ``Host``, ``Origin`` and
    ``Sec-Fetch-Site`` headers; they matter only without a token.
    """
    if token is None:
        if not is_loopback(client_host):
            raise AuthError(403, "admin is only available from loopback when ADMIN_TOKEN is unset")
        if not is_loopback_name(host):
            raise AuthError(
                403,
                "without ADMIN_TOKEN, admin answers only requests addressed to a loopback name "
                "(localhost, 127.0.0.1, [::1])",
            )
        if fetch_site not in (None, "same-origin", "none") or (
            origin is not None and not is_loopback_name(origin.partition("://")[2])
        ):
            raise AuthError(403, "cross-site requests to the admin API are refused")
        return
    scheme, _, given = (authorization or "").partition(" ")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    expected = token.encode("utf-8")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogatepass"), expected
    ):
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
