"""Phone callers: a phone is another kind of client, not another relay.

A browser speaks Realtime client events; a phone speaks its provider's media messages.  Each
provider has one sans-IO *client dialect* here (`twilio_media`; ACS beside it) that turns the
provider's messages into Realtime client events and the model's events into provider messages.
`client.PhoneClient` runs a dialect over the provider's websocket and hands the call the same
two things a browser gives it (a ``receive`` callable and a socket to send to), so `Call`, the
tracker, the recorder, the limits, the live board and shutdown work unchanged.

Pure (no I/O): `dialect`, `playback`, `caller_id`, `twilio_media`.  I/O: `client` (the
adapter), `tokens`, `twilio_routes` (the webhook and the media socket).
"""
