"""The ACS settings: off unless asked for, and precise errors for what ACS needs."""

from __future__ import annotations

import pytest

from app.settings import ACS_JWKS_URL, Settings, SettingsError

RESOURCE_ID = "3d20e1de-0f28-41c5-84c6-0ad12a8cbe2b"
KEY = "w" * 32
CONNECTION = "endpoint=https://acs-x.communication.azure.com/;accesskey=c2VjcmV0"
ACS = {
    "ACS_CONNECTION_STRING": CONNECTION,
    "ACS_RESOURCE_ID": RESOURCE_ID,
    "ACS_WEBHOOK_KEY": KEY,
    "PUBLIC_BASE_URL": "https://relay.example.com",
    "CALLER_ID_SECRET": "c" * 32,
}


def test_acs_is_off_by_default() -> None:
    settings = Settings.from_env({})
    assert not settings.acs_enabled
    assert settings.acs_jwks_url == ACS_JWKS_URL


def test_acs_with_a_connection_string_or_an_endpoint() -> None:
    settings = Settings.from_env(ACS)
    assert settings.acs_enabled
    assert (settings.acs_resource_id, settings.acs_webhook_key) == (RESOURCE_ID, KEY)
    assert CONNECTION not in repr(settings) and KEY not in repr(settings)
    entra = {k: v for k, v in ACS.items() if k != "ACS_CONNECTION_STRING"}
    entra["ACS_ENDPOINT"] = "https://acs-x.communication.azure.com"
    assert Settings.from_env(entra).acs_endpoint == "https://acs-x.communication.azure.com"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ACS_ENDPOINT": "https://acs-x.communication.azure.com"}, "not both"),
        ({"ACS_CONNECTION_STRING": "endpoint=https://acs-x/"}, "accesskey=KEY"),
        ({"ACS_CONNECTION_STRING": "accesskey=abc"}, "endpoint=https://"),
        ({"ACS_CONNECTION_STRING": "endpoint=http://acs-x/;accesskey=a"}, "endpoint=https://"),
        ({"ACS_RESOURCE_ID": ""}, "ACS_RESOURCE_ID must be"),
        ({"ACS_RESOURCE_ID": "/subscriptions/x/resourceGroups/y"}, "immutable resource id"),
        ({"ACS_WEBHOOK_KEY": ""}, "ACS_WEBHOOK_KEY must be at least 32"),
        ({"ACS_WEBHOOK_KEY": "short"}, "ACS_WEBHOOK_KEY must be at least 32"),
        ({"ACS_JWKS_URL": "ftp://keys"}, "ACS_JWKS_URL must be an https://"),
    ],
)
def test_bad_acs_settings_say_what_is_wrong(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env({**ACS, **changes})


def test_an_endpoint_must_be_https() -> None:
    env = {k: v for k, v in ACS.items() if k != "ACS_CONNECTION_STRING"}
    with pytest.raises(SettingsError, match="ACS_ENDPOINT must be an https:// URL"):
        Settings.from_env({**env, "ACS_ENDPOINT": "acs-x.communication.azure.com"})
