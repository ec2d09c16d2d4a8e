"""The relay's Entra ID identity: one factory for the Azure OpenAI token and the Cosmos DB client.

azure-identity's ``DefaultAzureCredential`` is the managed identity on Azure (``AZURE_CLIENT_ID``
picks a user-assigned one) and the developer's ``az login`` elsewhere.  It is synchronous: call
the factory, and the credential's ``get_token``, from worker threads only.  Tests pass their own
factory instead.
"""

from __future__ import annotations

from collections.abc import Callable

from azure.core.credentials import TokenCredential

__all__ = ["CredentialFactory", "default_credential"]

#: Makes the credential; called once per user of it, in a worker thread.
CredentialFactory = Callable[[], TokenCredential]


def default_credential() -> TokenCredential:
    """azure-identity's ``DefaultAzureCredential``.  Blocking (it probes the environment)."""
    # Imported here: azure-identity is loaded only by relays that use Entra ID.
    from azure.identity import DefaultAzureCredential

    credential: TokenCredential = DefaultAzureCredential()
    return credential
