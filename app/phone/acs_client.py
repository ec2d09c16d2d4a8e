"""Call Automation through Microsoft's SDK (``azure-communication-callautomation``): answer a
call with bidirectional media streaming, hang it up, ask whether it is still up.

The SDK is synchronous (``requests`` underneath), so each operation runs in a worker thread
owned by the awaiting task, through a `trio.CapacityLimiter` the size of the SDK's connection
pool -- as the Cosmos DB client does.  A thread cannot be interrupted: the SDK's own timeouts
(connect, read, few retries) bound it, and the awaiting task bounds its wait on top
(`OPERATION_TIMEOUT`) and abandons a thread that overstays.

The client authenticates with ``ACS_CONNECTION_STRING`` (HMAC-signed requests) or, with
``ACS_ENDPOINT``, with the relay's Entra ID credential (managed identity on Azure; the factory
is `app.model.azure_credential`'s, called in the worker thread that first needs it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs
import trio

if TYPE_CHECKING:
    from azure.communication.callautomation import CallAutomationClient
    from azure.core.credentials import TokenCredential

    from app.model.azure_credential import CredentialFactory

__all__ = ["OPERATION_TIMEOUT", "AcsClient", "CallAutomation", "CallAutomationError"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The SDK's own bounds on one HTTP request (seconds), and its retries.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RETRIES = 2
#: The awaiting task's bound on one operation, retries included.
OPERATION_TIMEOUT = 30.0
#: Worker threads at once: the SDK's (requests') connection pool per host.
POOL_SIZE = 10


class CallAutomationError(Exception):
    """An operation failed or timed out; the message says which and why."""


class CallAutomation(Protocol):
    """What the relay asks of Call Automation (the SDK in production, a fake in pure tests)."""

    async def answer(self, context: str, callback_url: str, media_url: str) -> str: ...

    async def reject(self, context: str) -> None: ...

    async def hang_up(self, call_connection_id: str) -> None: ...

    async def is_connected(self, call_connection_id: str) -> bool: ...


@attrs.define(eq=False)
class AcsClient:
    """`CallAutomation` through the SDK.

    Each operation makes its client in its worker thread and closes it when done, so no
    connection outlives the operation (a call makes two or three, seconds or minutes apart: a
    pool would hold idle sockets for nothing).  The Entra ID credential is made once, in the first
    thread that needs it, and kept: it caches its tokens.
    """

    _make_client: Callable[[], CallAutomationClient]
    _limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(POOL_SIZE))

    @classmethod
    def from_connection_string(cls, connection_string: str) -> AcsClient:
        def make() -> CallAutomationClient:
            from azure.communication.callautomation import CallAutomationClient

            client: CallAutomationClient = CallAutomationClient.from_connection_string(
                connection_string, **_SDK_BOUNDS
            )
            return client

        return cls(make)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: CredentialFactory) -> AcsClient:
        made: list[TokenCredential] = []
        lock = threading.Lock()

        def make() -> CallAutomationClient:
            from azure.communication.callautomation import CallAutomationClient

            with lock:
                if not made:
                    made.append(credential())
            return CallAutomationClient(endpoint, made[0], **_SDK_BOUNDS)

        return cls(make)

    async def answer(self, context: str, callback_url: str, media_url: str) -> str:
        """Answer with media streaming to ``media_url``; the call's connection id."""
        from azure.communication.callautomation import (
            AudioFormat,
            MediaStreamingAudioChannelType,
            MediaStreamingContentType,
            MediaStreamingOptions,
            StreamingTransportType,
        )

        media = MediaStreamingOptions(
            transport_url=media_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            # Mixed: one stream of what the call hears from the caller's side, as the model
            # expects one speaker's audio.
            audio_channel_type=MediaStreamingAudioChannelType.MIXED,
            start_media_streaming=True,
            enable_bidirectional=True,
            audio_format=AudioFormat.PCM24_K_MONO,
        )

        def answer(client: CallAutomationClient) -> str:
            properties = client.answer_call(
                incoming_call_context=context, callback_url=callback_url, media_streaming=media
            )
            return str(properties.call_connection_id)

        return await self._run("answer the call", answer)

    async def reject(self, context: str) -> None:
        """Turn the call away: the caller hears busy (the relay is full, draining or starting)."""
        from azure.communication.callautomation import CallRejectReason

        def reject(client: CallAutomationClient) -> None:
            client.reject_call(
                incoming_call_context=context, call_reject_reason=CallRejectReason.BUSY
            )

        await self._run("reject the call", reject)

    async def hang_up(self, call_connection_id: str) -> None:
        """End the call for everyone (the caller hears the line close)."""

        def hang_up(client: CallAutomationClient) -> None:
            client.get_call_connection(call_connection_id).hang_up(is_for_everyone=True)

        await self._run("hang up", hang_up)

    async def is_connected(self, call_connection_id: str) -> bool:
        """Whether the call is still up: False once ACS no longer knows it or it is ending."""
        from azure.core.exceptions import ResourceNotFoundError

        def state(client: CallAutomationClient) -> bool:
            try:
                properties = client.get_call_connection(call_connection_id).get_call_properties()
            except ResourceNotFoundError:
                return False
            return str(properties.call_connection_state).lower() in ("connected", "connecting")

        return await self._run("read the call's state", state)

    async def _run(self, what: str, operation: Callable[[CallAutomationClient], T]) -> T:
        def in_thread() -> T:
            from azure.core.exceptions import AzureError

            try:
                with self._make_client() as client:
                    return operation(client)
            except AzureError as exc:
                raise CallAutomationError(f"Call Automation could not {what}: {exc}") from None

        with trio.move_on_after(OPERATION_TIMEOUT):
            return await trio.to_thread.run_sync(
                in_thread, limiter=self._limiter, abandon_on_cancel=True
            )
        raise CallAutomationError(f"Call Automation did not {what} within {OPERATION_TIMEOUT:g} s")


#: Keyword arguments bounding every SDK request (azure-core's transport and retry policy).
_SDK_BOUNDS: dict[str, Any] = {
    "connection_timeout": CONNECT_TIMEOUT,
    "read_timeout": READ_TIMEOUT,
    "retry_total": RETRIES,
}
