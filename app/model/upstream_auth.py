"""Where the relay dials the model, and how it proves who it is.

URL forms (see realtime-protocol.md):

* ``REALTIME_UPSTREAM_URL`` — used as given (OpenAI: ``wss://api.openai.com/v1/realtime?model=M``);
  ``OPENAI_API_KEY`` goes only in ``Authorization: Bearer``.
* Azure OpenAI GA — ``wss://RESOURCE.openai.azure.com/openai/v1/realtime?model=DEPLOYMENT``.
* Azure OpenAI preview (``AZURE_OPENAI_API_VERSION`` set) —
  ``.../openai/realtime?api-version=V&deployment=DEPLOYMENT``, which speaks the beta dialect.
  ``AZURE_OPENAI_API_KEY`` goes only in the ``api-key`` header; without a key, an Entra ID token.

Keys never go in a URL, so they never reach a log line that prints one.

Entra ID: `EntraToken` asks azure-identity's credential (synchronous, so always in a worker
thread, never on the event loop) for a token for the Cognitive Services scope, caches it, and
fetches a new one when the cached one is within `REFRESH_MARGIN` of expiring.  Concurrent calls
share one fetch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import attrs
import trio

from app.model.azure_credential import default_credential
from app.rules.urls import host_and_port
from app.settings import Settings

log = logging.getLogger(__name__)

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached token is replaced
Headers = list[tuple[bytes, bytes]]


class UpstreamAuth(Protocol):
    async def headers(self) -> Headers: ...


@attrs.frozen
class NoAuth:
    """For an upstream that needs no credentials (the standalone simulator, a local proxy)."""

    async def headers(self) -> Headers:
        return []


@attrs.frozen
class BearerKey:
    key: str = attrs.field(repr=False)

    async def headers(self) -> Headers:
        return [(b"authorization", f"Bearer {self.key}".encode())]


@attrs.frozen
class AzureApiKey:
    key: str = attrs.field(repr=False)

    async def headers(self) -> Headers:
        return [(b"api-key", self.key.encode())]


class TokenCredential(Protocol):
    """azure.core.credentials.TokenCredential, as much of it as the relay uses."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


@attrs.define(eq=False)
class EntraToken:
    """A cached Entra ID bearer token, refreshed off the event loop before it expires."""

    credential_factory: Callable[[], TokenCredential] = default_credential
    scope: str = COGNITIVE_SERVICES_SCOPE
    wall_clock: Callable[[], float] = time.time
    _credential: TokenCredential | None = None
    _token: str | None = attrs.field(default=None, repr=False)
    _expires_on: float = 0.0
    _lock: trio.Lock = attrs.field(factory=trio.Lock)
    fetches: int = 0

    async def headers(self) -> Headers:
        return [(b"authorization", f"Bearer {await self.token()}".encode())]

    async def token(self) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await trio.to_thread.run_sync(self._fetch, abandon_on_cancel=True)
        assert self._token is not None
        return self._token

    def _fresh(self) -> bool:
        return self._token is not None and self.wall_clock() < self._expires_on - REFRESH_MARGIN

    def _fetch(self) -> None:
        # Runs in a worker thread: credential construction and get_token may do network I/O.
        if self._credential is None:
            self._credential = self.credential_factory()
        access = self._credential.get_token(self.scope)
        self._token, self._expires_on = access.token, float(access.expires_on)
        self.fetches += 1
        log.info("Fetched an Entra ID token for the model (valid until %.0f)", self._expires_on)


def azure_realtime_url(endpoint: str, deployment: str, api_version: str | None) -> str:
    """The realtime URL of an Azure OpenAI resource (https -> wss, http -> ws)."""
    parts = urlsplit(endpoint)
    scheme = "wss" if parts.scheme == "https" else "ws"
    base = f"{scheme}://{host_and_port(parts)}"  # never user:password@
    name = quote(deployment, safe="")
    if api_version:
        return f"{base}/openai/realtime?api-version={quote(api_version, safe='')}&deployment={name}"
    return f"{base}/openai/v1/realtime?model={name}"


def upstream_url_and_auth(
    settings: Settings, *, credential_factory: Callable[[], TokenCredential] | None = None
) -> tuple[str, UpstreamAuth]:
    """The URL to dial and the credentials to present, from the settings (not the simulator)."""
    if settings.upstream_url is not None:
        key = settings.openai_api_key
        return settings.upstream_url, BearerKey(key) if key else NoAuth()
    assert settings.azure_openai_endpoint and settings.azure_openai_deployment
    url = azure_realtime_url(
        settings.azure_openai_endpoint,
        settings.azure_openai_deployment,
        settings.azure_openai_api_version,
    )
    if settings.azure_openai_api_key:
        return url, AzureApiKey(settings.azure_openai_api_key)
    return url, EntraToken(credential_factory or default_credential)
