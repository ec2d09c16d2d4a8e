"""A fake Entra ID credential: the Cosmos DB SDK takes any ``TokenCredential``.

It hands out a known token (the local server's request log shows it) and records the threads it
was made and used in, and the scopes asked for.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import attrs
from azure.core.credentials import AccessToken

TOKEN = "fake-entra-token"


@attrs.define(eq=False)
class FakeCredential:
    """A ``TokenCredential`` that records the threads it was made and used in."""

    made_in: int = attrs.field(factory=threading.get_ident)
    used_in: set[int] = attrs.field(factory=set)
    scopes: list[tuple[str, ...]] = attrs.field(factory=list)
    closed: bool = False

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.used_in.add(threading.get_ident())
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    def close(self) -> None:
        self.closed = True
