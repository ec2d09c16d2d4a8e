"""Cosmos DB errors as the operator reads them: one line, and what to run to fix it.

The SDK's messages run to many lines of diagnostics; `brief_error` keeps the first.  The
messages for a missing database or container, or a refused identity, name the ``az`` command
that fixes it.  `cannot_heal` tells an error retrying can never fix (a malformed or rejected
key, a TLS certificate that does not verify), which stops start-up, from an outage, which the
relay waits out.  Pure functions, no requests.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import requests
import urllib3
from azure.core.exceptions import AzureError
from azure.cosmos.exceptions import CosmosHttpResponseError

from app.store.cosmos_schema import PARTITION_KEY_PATH

__all__ = [
    "DATA_CONTRIBUTOR_ROLE",
    "account_name",
    "brief_error",
    "cannot_heal",
    "forbidden_message",
    "missing_message",
]

#: The built-in data-plane role the relay's identity needs ("Cosmos DB Built-in Data Contributor").
DATA_CONTRIBUTOR_ROLE = "00000000-0000-0000-0000-000000000002"


def missing_message(endpoint: str, database: str, container: str, part: str) -> str:
    """What to tell the operator when the ``part`` ("database" or "container") is missing."""
    account = account_name(endpoint)
    what = (
        f"database {database!r}"
        if part == "database"
        else f"container {container!r} in database {database!r}"
    )
    commands = []
    if part == "database":
        commands.append(
            f"az cosmosdb sql database create -g RESOURCE_GROUP -a {account} -n {database}"
        )
    commands.append(
        f"az cosmosdb sql container create -g RESOURCE_GROUP -a {account} "
        f"-d {database} -n {container} -p {PARTITION_KEY_PATH} "
        f"--idx @infra/modules/cosmos/indexing-policy.json"
    )
    return (
        f"Cosmos DB {what} does not exist on {endpoint}. With Entra ID the relay "
        f"cannot create it (data-plane roles cannot create databases or containers). "
        f"Deploy infra/main.bicep (az deployment sub create -l REGION -f infra/main.bicep "
        f"-p environmentName=NAME location=REGION), or run: {'; '.join(commands)}"
    )


def forbidden_message(endpoint: str) -> str:
    """What to tell the operator when the account refuses the relay's identity (403)."""
    account = account_name(endpoint)
    return (
        f"Cosmos DB {endpoint} refused the relay's Entra ID identity (403): it needs "
        f"the Cosmos DB Built-in Data Contributor role on the account. Deploy "
        f"infra/main.bicep, which assigns it, or run: az cosmosdb sql role assignment "
        f"create -g RESOURCE_GROUP -a {account} --scope / --principal-id PRINCIPAL_ID "
        f"--role-definition-id {DATA_CONTRIBUTOR_ROLE}"
    )


def account_name(endpoint: str) -> str:
    """``ACCOUNT`` of ``https://ACCOUNT.documents.azure.com:443/``, for the az commands we print."""
    host = urlsplit(endpoint).hostname or ""
    return host.split(".", 1)[0] if host.endswith(".documents.azure.com") else "ACCOUNT_NAME"


#: A TLS failure as each layer under the SDK reports it.
_TLS_ERRORS = (ssl.SSLError, urllib3.exceptions.SSLError, requests.exceptions.SSLError)


def cannot_heal(exc: BaseException) -> bool:
    """Whether retrying the connection can never help: a malformed key, a key the account
    rejects (401), or a TLS certificate that does not verify (found anywhere in the chain of
    causes, as the SDK wraps the transport's errors)."""
    if isinstance(exc, ValueError) and not isinstance(exc, AzureError):
        return True
    if isinstance(exc, CosmosHttpResponseError) and exc.status_code == 401:
        return True
    seen: BaseException | None = exc
    for _ in range(10):  # bounded: a cause chain is short, and may loop in theory
        if seen is None:
            return False
        if isinstance(seen, _TLS_ERRORS):
            return True
        # azure-core keeps the transport's error in ``inner_exception``, not as the cause.
        inner = getattr(seen, "inner_exception", None)
        seen = inner if isinstance(inner, BaseException) else seen.__cause__ or seen.__context__
    return False


def brief_error(exc: Exception) -> str:
    """The first line of an SDK error (their messages run to several lines of diagnostics)."""
    status = getattr(exc, "status_code", None)
    text = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{status} {first}" if status else first
