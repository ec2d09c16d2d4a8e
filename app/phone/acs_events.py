"""What ACS posts to the relay, read with Azure's own event models.

Two kinds of post arrive:

* the Event Grid webhook (``POST /api/phone/acs/incoming``): a JSON array of events in the Event
  Grid schema, read with azure-eventgrid's `EventGridEvent`; the relay acts on the subscription
  validation handshake and on ``Microsoft.Communication.IncomingCall``;
* Call Automation callbacks (``POST /api/phone/acs/callbacks``): a JSON array of CloudEvents,
  read with azure-core's `CloudEvent`; the relay acts on ``CallConnected``,
  ``CallDisconnected`` and ``MediaStreamingStarted`` / ``Stopped`` / ``Failed``.

Each reader returns plain values (`Validation`, `IncomingCall`, `CallEvent`) or raises
`EventError` with a precise message; the routes answer 400 with it.  The caller's phone number
is returned only to be hashed into a customer id at once (it is never logged or stored).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames

__all__ = [
    "CALL_EVENTS",
    "CallEvent",
    "EventError",
    "IncomingCall",
    "Validation",
    "read_callbacks",
    "read_webhook",
]

INCOMING_CALL = SystemEventNames.AcsIncomingCallEventName.value
SUBSCRIPTION_VALIDATION = SystemEventNames.EventGridSubscriptionValidationEventName.value

#: The Call Automation events the relay acts on, by their short name.
CALL_EVENTS = frozenset(
    {
        "CallConnected",
        "CallDisconnected",
        "MediaStreamingStarted",
        "MediaStreamingStopped",
        "MediaStreamingFailed",
    }
)
_CALL_EVENT_PREFIX = "Microsoft.Communication."
#: The fields the Event Grid schema requires (`EventGridEvent.from_dict` does not check them).
_EVENT_GRID_REQUIRED = ("id", "eventType", "subject", "eventTime", "dataVersion", "data")


class EventError(ValueError):
    """A post the relay cannot read; the message says what is wrong with it."""


@attrs.frozen
class Validation:
    """Event Grid's subscription validation handshake: answer with the code."""

    code: str


@attrs.frozen
class IncomingCall:
    """A call to one of the resource's numbers, to be answered with ``context``."""

    context: str
    correlation_id: str
    #: The caller's number (E.164) or, for a caller without one, its raw ACS id; None if hidden.
    caller: str | None = attrs.field(repr=False)


@attrs.frozen
class CallEvent:
    """A Call Automation callback: ``kind`` is the short name (``CallDisconnected``)."""

    kind: str
    call_connection_id: str
    correlation_id: str | None
    #: ``resultInformation`` / ``mediaStreamingUpdate`` details, for the log.
    detail: str


def _json_array(body: bytes) -> list[dict[str, Any]]:
    try:
        value = json.loads(body)
    except ValueError:
        raise EventError("the body is not JSON") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise EventError("the body is not a JSON array of events")
    return value


def read_webhook(body: bytes) -> list[Validation | IncomingCall]:
    """The events of one Event Grid post the relay acts on, in order; others are skipped."""
    found: list[Validation | IncomingCall] = []
    for item in _json_array(body):
        missing = [name for name in _EVENT_GRID_REQUIRED if name not in item]
        if missing:
            raise EventError(
                f"an event that is not in the Event Grid schema (no {', '.join(missing)})"
            )
        try:
            event = EventGridEvent.from_dict(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise EventError(f"an event that is not in the Event Grid schema ({exc})") from None
        data = event.data if isinstance(event.data, dict) else {}
        if event.event_type == SUBSCRIPTION_VALIDATION:
            code = data.get("validationCode")
            if not isinstance(code, str) or not code:
                raise EventError("a subscription validation event without its validationCode")
            found.append(Validation(code))
        elif event.event_type == INCOMING_CALL:
            found.append(_incoming_call(data))
    return found


def _incoming_call(data: dict[str, Any]) -> IncomingCall:
    context = data.get("incomingCallContext")
    if not isinstance(context, str) or not context:
        raise EventError("an IncomingCall event without its incomingCallContext")
    correlation_id = data.get("correlationId")
    return IncomingCall(
        context=context,
        correlation_id=correlation_id if isinstance(correlation_id, str) else "",
        caller=_caller(data.get("from")),
    )


def _caller(identifier: Any) -> str | None:
    """The number of a ``CommunicationIdentifierModel``: ``phoneNumber.value``, else its raw id
    (``4:+15551234567`` for a phone number)."""
    if not isinstance(identifier, dict):
        return None
    phone = identifier.get("phoneNumber")
    if isinstance(phone, dict) and isinstance(phone.get("value"), str) and phone["value"]:
        return str(phone["value"])
    raw = identifier.get("rawId")
    if isinstance(raw, str) and raw:
        return raw[2:] if raw.startswith("4:") else raw
    return None


def read_callbacks(body: bytes) -> list[CallEvent]:
    """The Call Automation events of one callback post the relay acts on, in order."""
    found: list[CallEvent] = []
    for item in _json_array(body):
        try:
            event: CloudEvent[Any] = CloudEvent.from_dict(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise EventError(f"an event that is not a CloudEvent ({exc})") from None
        kind = event.type.removeprefix(_CALL_EVENT_PREFIX)
        if kind not in CALL_EVENTS:
            continue
        data = event.data if isinstance(event.data, dict) else {}
        connection = data.get("callConnectionId")
        if not isinstance(connection, str) or not connection:
            raise EventError(f"a {kind} event without its callConnectionId")
        correlation = data.get("correlationId")
        found.append(
            CallEvent(
                kind=kind,
                call_connection_id=connection,
                correlation_id=correlation if isinstance(correlation, str) else None,
                detail=_detail(data),
            )
        )
    return found


def _detail(data: dict[str, Any]) -> str:
    parts: list[str] = []
    result = data.get("resultInformation")
    if isinstance(result, dict):
        parts.append(
            f"result {result.get('code')}/{result.get('subCode')}: {result.get('message', '')}"
        )
    update = data.get("mediaStreamingUpdate")
    if isinstance(update, dict):
        parts.append(
            f"media {update.get('mediaStreamingStatus')} "
            f"({update.get('mediaStreamingStatusDetails')})"
        )
    return "; ".join(parts)
