"""Shared fixtures: the local Cosmos DB server, Azurite (Blob Storage), and the store back ends
to run tests against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.azurite import Azurite
from tests.support.cosmos_server import CosmosServer


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    """One local Cosmos DB server for the session; each test uses a database of its own."""
    server = CosmosServer.start(tmp_path_factory.mktemp("cosmos-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_cosmos_server(tmp_path: Path) -> Iterator[CosmosServer]:
    """A local Cosmos DB server for this test alone: for tests that take it down or break it."""
    server = CosmosServer.start(tmp_path / "cosmos-server")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite Blob service for the session (each call's blob has a name of its own)."""
    server = Azurite.start(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "cosmos"])
def store_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides selecting a store: none (SQLite under the test's data dir), or the
    session's Cosmos DB server with a fresh database."""
    if request.param == "sqlite":
        return {}
    server: CosmosServer = request.getfixturevalue("cosmos_server")
    return server.settings()
