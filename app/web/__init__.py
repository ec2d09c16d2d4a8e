"""The HTTP side and the ASGI app: lifespan (`Relay`), pages, health, metrics, admin and live APIs.

I/O. May import every part below it; never the process package.
"""
