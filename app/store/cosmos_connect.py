"""Connecting to a Cosmos DB account: credentials, the SDK's timeouts, the database and container.

Everything here blocks -- the azure-cosmos client and azure-identity's credentials are
synchronous -- so :class:`~app.store.cosmos.CosmosStore` calls it from worker threads only.

Auth: ``COSMOSDB_KEY`` when set; otherwise Entra ID through a ``TokenCredential``
(azure-identity's ``DefaultAzureCredential`` by default: the managed identity on Azure, the
developer's ``az login`` locally), created in the worker thread and used by the SDK in the worker
threads that make requests, never on the event loop.

Provisioning: with the key the database and container are created when missing.  With Entra ID
they cannot be -- the data-plane role (Cosmos DB Built-in Data Contributor) does not include
creating them -- so a missing database, container or role assignment is reported by
:class:`NotProvisionedError`, whose message says what is missing and how to create it, and is
checked again on every use until it is fixed.  Nothing else about the account is checked here.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError
from urllib3.exceptions import InsecureRequestWarning

from app.model.azure_credential import CredentialFactory, default_credential
from app.settings import Settings
from app.store.base import StoreError, StoreUnusableError
from app.store.cosmos_errors import (
    DATA_CONTRIBUTOR_ROLE,
    account_name,
    brief_error,
    cannot_heal,
    forbidden_message,
    missing_message,
)
from app.store.cosmos_schema import INDEXING_POLICY, PARTITION_KEY_PATH

__all__ = [
    "CONNECTION_POOL_SIZE",
    "DATA_CONTRIBUTOR_ROLE",
    "CosmosAccount",
    "CosmosTimeouts",
    "CredentialFactory",
    "NotProvisionedError",
    "account_name",
    "brief_error",
]

log = logging.getLogger(__name__)

#: Connections the SDK keeps per host (the requests transport's default pool).  The store lets
#: no more threads than this use the client at once.
CONNECTION_POOL_SIZE = 10




class NotProvisionedError(StoreError):
    """The database, the container or the identity's role is missing; the message says the fix."""


@attrs.frozen
class CosmosTimeouts:
    """The SDK's own limits.  A worker thread cannot be cancelled, so these bound how long a
    request abandoned by its caller (the recorder gives a save ``SAVE_TIMEOUT`` seconds) keeps
    a thread and a pooled connection.

    ``operation`` bounds one SDK call, retries included.  Throttling (429) is retried by the
    SDK after the delay the service asks for, ``throttle_retries`` times and for at most
    ``throttle_max_wait`` seconds in all; after that the save fails and is spooled.
    """

    connect: float = 5.0
    read: float = 10.0
    operation: float = 20.0
    throttle_retries: int = 5
    throttle_max_wait: int = 8

    def client_options(self) -> dict[str, Any]:
        return {
            "connection_timeout": self.connect,
            "read_timeout": self.read,
            "retry_throttle_total": self.throttle_retries,
            "retry_throttle_backoff_max": self.throttle_max_wait,
        }


@attrs.define(eq=False)
class CosmosAccount:
    """One ``CosmosClient`` for the process and the container it writes to.

    Thread safety: the SDK client is safe to share between threads; :meth:`container` may run
    in several threads at once (the worst case is a redundant provisioning check).
    """

    client: CosmosClient
    endpoint: str
    database: str
    container_name: str
    uses_key: bool
    _credential: TokenCredential | None = attrs.field(default=None, repr=False)
    _container: ContainerProxy | None = attrs.field(default=None, init=False, repr=False)

    @classmethod
    def connect(
        cls,
        settings: Settings,
        credential_factory: CredentialFactory | None,
        timeouts: CosmosTimeouts,
    ) -> CosmosAccount:
        """Build the client (it reads the account on construction).  Blocking.

        Raises :class:`StoreError` when the account cannot be reached or refuses the credential.
        """
        assert settings.cosmos_endpoint is not None
        if not settings.cosmos_verify_tls:
            _allow_unverified_tls(settings.cosmos_endpoint)
        credential: TokenCredential | None = None
        secret: str | TokenCredential
        if settings.cosmos_key is not None:
            secret = settings.cosmos_key
        else:
            secret = credential = (credential_factory or default_credential)()
        try:
            client = CosmosClient(
                settings.cosmos_endpoint,
                secret,
                connection_verify=settings.cosmos_verify_tls,
                **timeouts.client_options(),
            )
        except (AzureError, ValueError) as exc:  # ValueError: a key that is not base64
            _close_credential(credential)
            kind = StoreUnusableError if cannot_heal(exc) else StoreError
            raise kind(
                f"cannot connect to Cosmos DB at {settings.cosmos_endpoint}: {brief_error(exc)}"
            ) from exc
        return cls(
            client=client,
            endpoint=settings.cosmos_endpoint,
            database=settings.cosmos_database,
            container_name=settings.cosmos_container,
            uses_key=settings.cosmos_key is not None,
            credential=credential,
        )

    def container(self) -> ContainerProxy:
        """The container, once known to exist with the right partition key.  Blocking.

        With the key, creates the database and container if missing.  Raises
        :class:`NotProvisionedError` when they are missing (Entra ID) or partitioned wrongly,
        and :class:`StoreError` when the account does not answer.
        """
        if self._container is None:
            self._container = self._provision()
        return self._container

    def close(self) -> None:
        """Close the client's connections and the credential this account created.  Blocking."""
        self._container = None
        try:
            self.client.close()
        finally:
            _close_credential(self._credential)

    def _provision(self) -> ContainerProxy:
        properties: Mapping[str, Any]
        try:
            if self.uses_key:
                database = self.client.create_database_if_not_exists(self.database)
                container = database.create_container_if_not_exists(
                    self.container_name,
                    PartitionKey(PARTITION_KEY_PATH),
                    indexing_policy=INDEXING_POLICY,
                )
                properties = container.read()
            else:
                database = self.client.get_database_client(self.database)
                container = database.get_container_client(self.container_name)
                properties = self._read_as_identity(container)
        except CosmosHttpResponseError as exc:
            raise StoreError(f"Cosmos DB {self.endpoint}: {brief_error(exc)}") from exc
        except AzureError as exc:
            raise StoreError(f"Cosmos DB {self.endpoint} unreachable: {brief_error(exc)}") from exc
        paths = properties.get("partitionKey", {}).get("paths", [])
        if paths != [PARTITION_KEY_PATH]:
            raise NotProvisionedError(
                f"Cosmos DB container {self.database}/{self.container_name} is partitioned by "
                f"{', '.join(paths) or 'nothing'}, but the relay needs {PARTITION_KEY_PATH}. A "
                f"partition key cannot be changed: create a new container (infra/main.bicep) "
                f"and set COSMOSDB_CONTAINER to its name."
            )
        return container

    def _read_as_identity(self, container: ContainerProxy) -> dict[str, Any]:
        """Read the container's properties with Entra ID, explaining what is missing."""
        try:
            properties: dict[str, Any] = container.read()
        except CosmosHttpResponseError as exc:
            if exc.status_code == 404:
                part = self._missing_part()
                where = (self.endpoint, self.database, self.container_name)
                raise NotProvisionedError(missing_message(*where, part)) from exc
            if exc.status_code == 403:
                raise NotProvisionedError(forbidden_message(self.endpoint)) from exc
            raise
        return properties

    def _missing_part(self) -> str:
        """Which of the database and the container is missing (after a 404 on the container)."""
        try:
            self.client.get_database_client(self.database).read()
        except CosmosHttpResponseError as exc:
            if exc.status_code == 404:
                return "database"
            raise
        return "container"


def _allow_unverified_tls(endpoint: str) -> None:
    """Say once that TLS is not verified, instead of urllib3 warning on every request.

    Only for the endpoint's host: any other unverified request still warns.
    """
    host = urlsplit(endpoint).hostname or ""
    log.warning("COSMOSDB_VERIFY_TLS=false: not verifying %s (only for a local emulator)", host)
    warnings.filterwarnings(
        "ignore",
        message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
        category=InsecureRequestWarning,
    )


def _close_credential(credential: TokenCredential | None) -> None:
    close = getattr(credential, "close", None)
    if callable(close):
        close()
