"""What every HTTP route of the relay shares: JSON answers, the admin check, query parameters.

One home for them, so that the admin API, the live board's streams and the health routes answer
errors the same way (``{"error": "..."}`` with a status) and check the admin token the same way.

`BadRequest` is the one exception a handler raises for input the client must fix (HTTP 400).
Other ``ValueError``s are bugs and must not be dressed up as the client's fault.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from quart import Response, request

from app.admission.auth import AuthError, check_admin

__all__ = [
    "BadRequest",
    "admin_refusal",
    "json_response",
    "parse_time",
    "problem",
    "whole_number",
]

_INTEGER = re.compile(r"-?[0-9]{1,6}")


class BadRequest(ValueError):
    """A query parameter the client must fix; ``str()`` says how (HTTP 400)."""


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def problem(status: int, message: str) -> Response:
    """An error answer: ``{"error": message}`` with ``status``."""
    return json_response({"error": message}, status)


def admin_refusal(admin_token: str | None) -> Response | None:
    """The answer refusing the current request to the admin API, or None if it may proceed."""
    client = request.scope.get("client")
    headers = request.headers
    try:
        check_admin(
            headers.get("authorization"),
            client[0] if client else None,
            admin_token,
            host=headers.get("host"),
            origin=headers.get("origin"),
            fetch_site=headers.get("sec-fetch-site"),
        )
    except AuthError as exc:
        return problem(exc.status, str(exc))
    return None


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with a zone from query parameter ``name``, in UTC; None when absent.

    Converted here, before any answer starts: a time at the edge of the calendar in another
    zone (``0001-01-01T00:00:00+14:00``) has no UTC form, and an export that found out only
    while streaming broke off mid-download.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or time, got {value[:40]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise BadRequest(f"{name} must include a time zone (e.g. 2026-11-25T00:00:00Z)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"{name} is outside the years 1 to 9999 in UTC") from None


def whole_number(name: str, value: str | None, default: int, low: int, high: int) -> int:
    """A query parameter that must be an integer in ``[low, high]``."""
    if value is None or value == "":
        return default
    number = int(value) if _INTEGER.fullmatch(value) else low - 1
    if not low <= number <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return number
