"""``GET /api/admin/conversations/{customer_id}/{id}/recording``: a call's recording, seekable.

The route looks the conversation up, answers 404 when it was not recorded, and streams the WAV
its ``recording`` field names from where it says (``local`` or ``blob``) with HTTP range
requests, so that a player starts at once and can seek: ``Accept-Ranges: bytes``, ``206`` with
``Content-Range`` for one range (``bytes=a-b``, ``a-``, suffix ``-n``), ``416`` with
``Content-Range: bytes */size`` when the range starts past the end, ``If-Range`` and
``If-None-Match`` against the stored bytes' ETag.  Range parsing and the conditional logic are
quart's and werkzeug's (`Response.make_conditional`); `RecordingBody` only says how to read a
range.  Several ranges in one request (which players never send) get the whole file (200), as
the RFC allows.

The bytes are read `CHUNK` at a time from the reader and sent as they come: never the whole
recording in memory.

Auth: the same admin check as every admin route (bearer ``ADMIN_TOKEN``, or loopback without
one), or a short-lived signed link from ``POST .../recording/link`` (`app.recording.links`),
which is how the ``<audio>`` element on ``/admin`` -- which cannot send a header -- gets in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from quart import Blueprint, Response, request
from quart.wrappers.response import ResponseBody
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from app.admission.relay import Relay
from app.recording.links import LINK_SECONDS, link_key, link_valid, sign_link
from app.recording.readers import (
    LocalRecordings,
    RecordingMissing,
    RecordingReader,
    RecordingUnavailable,
    local_directory,
    open_reader,
)
from app.store.base import StoreError
from app.web.common import admin_refusal, json_response, problem

__all__ = ["CHUNK", "RecordingBody", "create_recording_api"]

log = logging.getLogger(__name__)

#: Bytes read from storage and sent per piece (a Blob range request each).
CHUNK = 256 * 1024
CONTENT_TYPE = "audio/wav"


class RecordingBody(ResponseBody):
    """A response body that reads ``name`` from ``reader`` one `CHUNK` at a time.

    `make_conditional` is what quart calls with the requested range: a suffix range (negative
    ``begin``) counts from the end, and a range starting at or past the end is unsatisfiable.
    """

    def __init__(self, reader: RecordingReader, name: str, size: int) -> None:
        self.reader = reader
        self.name = name
        self.size = size
        self.begin = 0
        self.end = size

    async def __aenter__(self) -> RecordingBody:
        return self

    async def __aexit__(
        self, exc_type: type | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        offset = self.begin
        while offset < self.end:
            try:
                piece = await self.reader.read(self.name, offset, min(CHUNK, self.end - offset))
            except (RecordingUnavailable, RecordingMissing) as exc:
                # The status is sent: all that is left is to stop short, which the client
                # sees as a body shorter than its Content-Length.
                log.warning("Recording %s cut off at byte %d: %s", self.name, offset, exc)
                return
            if not piece:
                return
            offset += len(piece)
            yield piece

    async def make_conditional(self, begin: int, end: int | None) -> int:
        if begin < 0:  # bytes=-n: the last n bytes (all of them when n is larger)
            begin = max(0, self.size + begin)
        end = self.size if end is None else min(end, self.size)
        if begin >= end:
            raise RequestedRangeNotSatisfiable(length=self.size)
        self.begin, self.end = begin, end
        return self.size


def create_recording_api(relay: Relay) -> Blueprint:
    api = Blueprint("recording_api", __name__, url_prefix="/api/admin/conversations")
    settings = relay.settings
    local = LocalRecordings(local_directory(settings))
    configured = open_reader(settings)
    readers: dict[str, RecordingReader] = {"local": local, configured.where: configured}
    key = link_key(settings.admin_token) if settings.admin_token else None

    @api.after_app_serving
    async def close_readers() -> None:
        await configured.aclose()

    def recording_path(customer_id: str, doc_id: str) -> str:
        return f"{api.url_prefix}/{quote(customer_id, safe='')}/{quote(doc_id, safe='')}/recording"

    def refusal(customer_id: str, doc_id: str) -> Response | None:
        """None when the admin check passes or the request carries a valid link."""
        refused = admin_refusal(settings.admin_token)
        if refused is None:
            return None
        expires, signature = request.args.get("expires"), request.args.get("signature")
        if expires is None and signature is None:
            return refused
        if key is not None and link_valid(
            key, customer_id, doc_id, expires, signature, time.time()
        ):
            return None
        return problem(403, "this recording link has expired or is not valid: ask for a new one")

    async def recording_of(customer_id: str, doc_id: str) -> dict[str, Any] | Response:
        """The conversation's ``recording`` field, or the answer saying why there is none."""
        try:
            doc = await relay.store.get(customer_id, doc_id)
        except StoreError as exc:
            return problem(503, f"the conversation store is unavailable: {exc}")
        if doc is None:
            return problem(404, "no such conversation")
        field = doc.get("recording")
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            return problem(404, "this conversation was not recorded")
        return field

    @api.get("/<customer_id>/<doc_id>/recording")
    async def recording(customer_id: str, doc_id: str) -> Response:
        refused = refusal(customer_id, doc_id)
        if refused is not None:
            return refused
        field = await recording_of(customer_id, doc_id)
        if isinstance(field, Response):
            return field
        reader = readers.get(str(field.get("where", "local")))
        if reader is None:
            return problem(
                503,
                f"the recording is in {field.get('where')!r} storage, which this relay is not "
                "configured to read (AZURE_STORAGE_ACCOUNT_URL or "
                "AZURE_STORAGE_CONNECTION_STRING)",
            )
        name = field["name"]
        try:
            info = await reader.info(name)
        except RecordingMissing:
            return problem(404, "the recording is not in storage (expired or never committed)")
        except RecordingUnavailable as exc:
            return problem(503, f"the recording storage is unavailable: {exc}")
        response = Response(
            RecordingBody(reader, name, info.size),
            content_type=CONTENT_TYPE,
        )
        response.content_length = info.size
        response.timeout = None  # quart's RESPONSE_TIMEOUT would cut a slow player off
        response.set_etag(info.etag)
        response.last_modified = info.last_modified
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["Content-Disposition"] = f'inline; filename="{name}"'
        if "," in request.headers.get("Range", ""):
            return response  # several ranges: the whole file, as RFC 9110 allows
        return await response.make_conditional(
            request, accept_ranges=True, complete_length=info.size
        )

    @api.post("/<customer_id>/<doc_id>/recording/link")
    async def recording_link(customer_id: str, doc_id: str) -> Response:
        """A URL the ``<audio>`` element can fetch by itself for `LINK_SECONDS` seconds."""
        refused = admin_refusal(settings.admin_token)
        if refused is not None:
            return refused
        field = await recording_of(customer_id, doc_id)
        if isinstance(field, Response):
            return field
        url = recording_path(customer_id, doc_id)
        expires = int(time.time()) + LINK_SECONDS
        if key is not None:  # without ADMIN_TOKEN only loopback gets in, link or not
            signature = sign_link(key, customer_id, doc_id, expires)
            url += "?" + urlencode({"expires": expires, "signature": signature})
        return json_response({"url": url, "expires": expires, "recording": field})

    return api
