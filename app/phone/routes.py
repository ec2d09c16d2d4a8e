"""The phone providers' routes a relay serves, from its settings (none when no provider is set).

`phone_routes` returns the HTTP blueprints (webhooks) for the quart app and the bare ASGI
websocket endpoints (media streams) for `app.web.application.RelayApp`, by path.
"""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint

from app.admission.relay import Relay
from app.phone.caller_id import CallerIdMode, CallerIds
from app.phone.twilio_routes import MEDIA_PATH, TwilioMediaEndpoint, TwilioPhone, create_twilio_api

__all__ = ["PhoneRoutes", "caller_ids", "phone_routes"]


@attrs.frozen
class PhoneRoutes:
    blueprints: tuple[Blueprint, ...] = ()
    #: Bare ASGI websocket endpoints by path.
    sockets: dict[str, Any] = attrs.field(factory=dict)


def caller_ids(relay: Relay) -> CallerIds:
    """How callers' numbers become customer ids, by the relay's settings."""
    settings = relay.settings
    secret = settings.caller_id_secret
    return CallerIds(
        secret.encode() if secret else None,
        CallerIdMode(settings.caller_id_mode),
        dict(settings.caller_id_map),
    )


def phone_routes(relay: Relay) -> PhoneRoutes:
    """The routes of every phone provider the settings turn on."""
    settings = relay.settings
    blueprints: list[Blueprint] = []
    sockets: dict[str, Any] = {}
    if settings.twilio_auth_token is not None:
        assert settings.public_base_url is not None  # Settings checks it
        twilio = TwilioPhone(
            auth_token=settings.twilio_auth_token,
            public_base_url=settings.public_base_url,
            caller_ids=caller_ids(relay),
        )
        blueprints.append(create_twilio_api(relay, twilio))
        sockets[MEDIA_PATH] = TwilioMediaEndpoint(relay, twilio)
    if settings.acs_enabled:
        # Imported here: a relay without ACS never loads the Call Automation SDK.
        from app.phone import acs_routes

        acs = acs_routes.AcsPhone.from_settings(settings, caller_ids(relay))
        blueprints.append(acs_routes.create_acs_api(relay, acs))
        sockets[acs_routes.MEDIA_PATH] = acs_routes.AcsMediaEndpoint(relay, acs)
    return PhoneRoutes(blueprints=tuple(blueprints), sockets=sockets)
