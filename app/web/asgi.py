"""``app.web.asgi:app``: the ASGI app for anyone who runs hypercorn (or another server) themselves.

Reads the settings from the environment at import, as an ASGI entry point must; `python -m app`
does not import this module (it builds the app from the settings it already read).
"""

from __future__ import annotations

import logging

from app.settings import Settings
from app.web.application import RelayApp, create_app


def _app_from_env() -> RelayApp:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.logging_level)
    return create_app(settings)


app = _app_from_env()
