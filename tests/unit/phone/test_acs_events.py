"""What ACS posts, read with Azure's event models: Event Grid's webhook and Call Automation's
callbacks, with precise errors for anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.phone.acs_events import (
    CallEvent,
    EventError,
    IncomingCall,
    Validation,
    read_callbacks,
    read_webhook,
)


def event_grid(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "e1",
        "topic": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Communication/"
        "communicationServices/acs",
        "subject": "s",
        "data": data,
        "eventType": event_type,
        "eventTime": "2026-12-06T12:00:00Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }


def cloud_event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "c1",
        "source": "calling/callConnections/conn-1",
        "type": f"Microsoft.Communication.{kind}",
        "data": data,
        "time": "2026-12-06T12:00:00Z",
        "specversion": "1.0",
    }


def body(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


INCOMING: dict[str, Any] = {
    "to": {
        "kind": "phoneNumber",
        "rawId": "4:+18005550100",
        "phoneNumber": {"value": "+18005550100"},
    },
    "from": {
        "kind": "phoneNumber",
        "rawId": "4:+15551234567",
        "phoneNumber": {"value": "+15551234567"},
    },
    "incomingCallContext": "ctx",
    "correlationId": "corr-1",
    "serverCallId": "srv",
}


def test_validation_handshake() -> None:
    post = body(
        event_grid(
            "Microsoft.EventGrid.SubscriptionValidationEvent",
            {"validationCode": "512d38b6", "validationUrl": "https://x"},
        )
    )
    assert read_webhook(post) == [Validation("512d38b6")]


def test_incoming_call_gives_context_correlation_and_the_number() -> None:
    [call] = read_webhook(body(event_grid("Microsoft.Communication.IncomingCall", INCOMING)))
    assert call == IncomingCall(context="ctx", correlation_id="corr-1", caller="+15551234567")
    assert "+1555" not in repr(call)  # the number is never in a log line made from the value


def test_raw_id_when_no_phone_number_object_and_none_when_hidden() -> None:
    data = {**INCOMING, "from": {"rawId": "4:+15550001111"}}
    [call] = read_webhook(body(event_grid("Microsoft.Communication.IncomingCall", data)))
    assert isinstance(call, IncomingCall) and call.caller == "+15550001111"
    data = {**INCOMING, "from": None}
    [call] = read_webhook(body(event_grid("Microsoft.Communication.IncomingCall", data)))
    assert isinstance(call, IncomingCall) and call.caller is None


def test_other_event_types_are_skipped() -> None:
    assert read_webhook(body(event_grid("Microsoft.Communication.CallStarted", {}))) == []


@pytest.mark.parametrize(
    ("post", "problem"),
    [
        (b"not json", "not JSON"),
        (b'"a string"', "not a JSON array of events"),
        (b"[1, 2]", "not a JSON array of events"),
        (body({"eventType": "x"}), "not in the Event Grid schema"),
        (body(event_grid("Microsoft.EventGrid.SubscriptionValidationEvent", {})), "validationCode"),
        (
            body(event_grid("Microsoft.Communication.IncomingCall", {"from": {}})),
            "incomingCallContext",
        ),
    ],
)
def test_bad_webhook_posts_get_precise_errors(post: bytes, problem: str) -> None:
    with pytest.raises(EventError, match=problem):
        read_webhook(post)


def test_callbacks_read_as_cloud_events() -> None:
    post = body(
        cloud_event("CallConnected", {"callConnectionId": "conn-1", "correlationId": "corr-1"}),
        cloud_event("PlayCompleted", {"callConnectionId": "conn-1"}),
        cloud_event(
            "MediaStreamingFailed",
            {
                "callConnectionId": "conn-1",
                "resultInformation": {"code": 500, "subCode": 8581, "message": "socket closed"},
                "mediaStreamingUpdate": {
                    "mediaStreamingStatus": "mediaStreamingFailed",
                    "mediaStreamingStatusDetails": "streamConnectionInterrupted",
                },
            },
        ),
        cloud_event("CallDisconnected", {"callConnectionId": "conn-1"}),
    )
    events = read_callbacks(post)
    assert [e.kind for e in events] == ["CallConnected", "MediaStreamingFailed", "CallDisconnected"]
    assert events[0] == CallEvent("CallConnected", "conn-1", "corr-1", "")
    assert "8581" in events[1].detail and "streamConnectionInterrupted" in events[1].detail


def test_a_callback_without_its_connection_id_is_an_error() -> None:
    with pytest.raises(EventError, match="CallDisconnected event without its callConnectionId"):
        read_callbacks(body(cloud_event("CallDisconnected", {})))
    with pytest.raises(EventError, match="not a CloudEvent"):
        read_callbacks(body({"type": "Microsoft.Communication.CallConnected"}))
