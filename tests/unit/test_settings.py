"""Settings: defaults, parsing, and a clear message naming the variable for every bad value."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.uses_simulator
    assert settings.store_kind == "sqlite"
    assert settings.data_dir == Path("data")
    assert settings.cosmos_database == "GenAI"
    assert settings.cosmos_container == "AI_Conversations"
    assert settings.max_frame_bytes == 1_048_576
    assert settings.max_calls == 500
    assert settings.ws_compression is False
    assert (settings.call_idle_timeout, settings.save_timeout) == (30.0, 10.0)
    assert settings.workers == 1
    assert settings.log_format == "text"
    assert settings.max_frame_rate == 250.0
    assert settings.max_calls_per_customer == 5
    assert settings.redact_pii is True


def test_the_scale_and_compliance_settings_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "WORKERS": "2",
            "LOG_FORMAT": "json",
            "MAX_FRAME_RATE": "100",
            "MAX_CALLS_PER_CUSTOMER": "3",
            "REDACT_PII": "off",
        }
    )
    assert settings.workers == 2
    assert settings.log_format == "json"
    assert settings.max_frame_rate == 100.0
    assert settings.max_calls_per_customer == 3
    assert settings.redact_pii is False


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "PORT": "9000",
            "REALTIME_UPSTREAM_URL": "wss://api.openai.com/v1/realtime?model=gpt-realtime",
            "OPENAI_API_KEY": "sk-secret",
            "ALLOWED_ORIGINS": "https://a.example, https://b.example/",
            "WS_COMPRESSION": "true",
            "SAVE_TIMEOUT": "2.5",
            "LOG_LEVEL": "debug",
            "COSMOSDB_ENDPOINT": "https://acct.documents.azure.com:443/",
        }
    )
    assert settings.port == 9000
    assert not settings.uses_simulator
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.ws_compression is True
    assert settings.save_timeout == 2.5
    assert settings.log_level == "DEBUG"
    assert settings.store_kind == "cosmos"
    assert "sk-secret" not in repr(settings)
    assert "sk-secret" not in settings.describe_upstream()


def test_recording_settings_and_where_recordings_go() -> None:
    assert Settings.from_env({}).record_calls is False
    assert Settings.from_env({}).describe_recording() == "off"
    local = Settings.from_env({"RECORD_CALLS": "on", "DATA_DIR": "/srv/relay"})
    assert local.record_calls is True
    assert local.describe_recording() == "files under /srv/relay/recordings"
    keyed = Settings.from_env(
        {"RECORD_CALLS": "true", "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=s3cret;x=y"}
    )
    assert keyed.azure_storage_connection_string == "AccountKey=s3cret;x=y"
    assert "s3cret" not in repr(keyed) and "s3cret" not in keyed.describe_recording()
    entra = Settings.from_env(
        {"RECORD_CALLS": "true", "AZURE_STORAGE_ACCOUNT_URL": "https://a.blob.core.windows.net"}
    )
    assert entra.describe_recording().startswith("Blob Storage https://a.blob.core.windows.net")


def test_simulator_literal_selects_the_simulator() -> None:
    assert Settings.from_env({"REALTIME_UPSTREAM_URL": "simulator"}).uses_simulator


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PORT": "eighty"}, "PORT must be a whole number"),
        ({"PORT": "70000"}, "PORT must be at most 65535"),
        ({"SAVE_TIMEOUT": "-1"}, "SAVE_TIMEOUT must be at least"),
        ({"CALL_IDLE_TIMEOUT": "nan"}, "CALL_IDLE_TIMEOUT must be a finite number"),
        ({"MAX_CALLS": "0"}, "MAX_CALLS must be at least 1"),
        ({"MAX_FRAME_BYTES": "1.5"}, "MAX_FRAME_BYTES must be a whole number"),
        ({"WS_COMPRESSION": "maybe"}, "WS_COMPRESSION must be true or false"),
        ({"COSMOSDB_VERIFY_TLS": "2"}, "COSMOSDB_VERIFY_TLS must be true or false"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        ({"ALLOWED_ORIGINS": "example.com"}, "ALLOWED_ORIGINS must be a comma-separated"),
        ({"REALTIME_UPSTREAM_URL": "http://x/v1/realtime"}, "REALTIME_UPSTREAM_URL must be"),
        ({"AZURE_OPENAI_ENDPOINT": "ftp://x"}, "AZURE_OPENAI_ENDPOINT must be an https"),
        ({"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/"}, "AZURE_OPENAI_DEPLOYMENT"),
        ({"CALL_TOKEN_SECRET": "short"}, "CALL_TOKEN_SECRET must be at least 32"),
        ({"WORKERS": "0"}, "WORKERS must be at least 1"),
        (
            {"SHUTDOWN_GRACE": "12"},
            r"SHUTDOWN_GRACE \(12 s\) must be at least SAVE_TIMEOUT \+ 5 s \(15 s\)",
        ),
        ({"SAVE_TIMEOUT": "30"}, r"must be at least SAVE_TIMEOUT \+ 5 s \(35 s\)"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of TEXT, JSON"),
        ({"MAX_FRAME_RATE": "0"}, "MAX_FRAME_RATE must be at least 1"),
        ({"MAX_CALLS_PER_CUSTOMER": "many"}, "MAX_CALLS_PER_CUSTOMER must be a whole number"),
        ({"REDACT_PII": "sometimes"}, "REDACT_PII must be true or false"),
        ({"TWILIO_AUTH_TOKEN": "t"}, "PUBLIC_BASE_URL is required with a phone provider"),
        (
            {"TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "https://relay.example.com"},
            "CALLER_ID_SECRET is required with a phone provider",
        ),
        ({"PUBLIC_BASE_URL": "relay.example.com"}, "PUBLIC_BASE_URL must be the https://"),
        ({"CALLER_ID_SECRET": "short"}, "CALLER_ID_SECRET must be at least 32"),
        ({"CALLER_ID_MODE": "plain"}, "CALLER_ID_MODE must be one of HASH, NUMBER"),
        ({"CALLER_ID_MAP": "/nonexistent/map.json"}, "CALLER_ID_MAP: cannot read"),
        ({"RECORD_CALLS": "please"}, "RECORD_CALLS must be true or false"),
        ({"AZURE_STORAGE_ACCOUNT_URL": "acct.blob"}, "AZURE_STORAGE_ACCOUNT_URL must be an"),
        (
            {
                "AZURE_STORAGE_ACCOUNT_URL": "https://a.blob.core.windows.net",
                "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=k",
            },
            "AZURE_STORAGE_ACCOUNT_URL .* or AZURE_STORAGE_CONNECTION_STRING, not both",
        ),
        ({"AZURE_STORAGE_CONNECTION_STRING": "s3cret"}, "the value is not shown"),
        (
            {"RECORD_CALLS": "true", "SHUTDOWN_GRACE": "20"},
            r"SAVE_TIMEOUT \+ 13 s \(23 s\) with RECORD_CALLS",
        ),
        ({"ADMIN_TOKEN": "t\u00f6ken-with-an-umlaut"}, "ADMIN_TOKEN must be ASCII"),
        ({"CALL_TOKEN_MAX_LIFETIME": "-5"}, "CALL_TOKEN_MAX_LIFETIME must be at least"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env)


def test_a_bad_value_stops_start_up_with_the_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "configuration error: PORT must be a whole number, got 'eighty'" in result.stderr


def test_a_port_in_use_stops_start_up_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "app"],
            env={
                "PATH": "/usr/bin:/bin",
                "PORT": str(taken.getsockname()[1]),
                "DATA_DIR": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert "the relay could not start: cannot listen: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_phone_settings(tmp_path: Path) -> None:
    mapping = tmp_path / "callers.json"
    mapping.write_text('{"+1 555 123 4567": "customer-42"}', encoding="utf-8")
    settings = Settings.from_env(
        {
            "TWILIO_AUTH_TOKEN": "twilio-token",
            "PUBLIC_BASE_URL": "https://relay.example.com",
            "CALLER_ID_MODE": "number",
            "CALLER_ID_MAP": str(mapping),
        }
    )
    assert settings.phone_enabled
    assert settings.caller_id_mode == "number"
    assert settings.caller_id_map == (("+15551234567", "customer-42"),)
    assert "twilio-token" not in repr(settings)
    assert not Settings.from_env({}).phone_enabled
    mapping.write_text('{"alice": "c"}', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"CALLER_ID_MAP: .* is not a phone number"):
        Settings.from_env({"CALLER_ID_MAP": str(mapping)})


def test_credentials_in_upstream_urls_are_never_described() -> None:
    openai = Settings.from_env(
        {"REALTIME_UPSTREAM_URL": "wss://u:pw@api.example:8443/v1/realtime?k=1"}
    )
    assert openai.describe_upstream() == "wss://api.example:8443/v1/realtime"
    azure = Settings.from_env(
        {
            "AZURE_OPENAI_ENDPOINT": "https://u:pw@r.openai.azure.com/",
            "AZURE_OPENAI_DEPLOYMENT": "d",
        }
    )
    assert "pw" not in azure.describe_upstream()
    with pytest.raises(SettingsError) as bad:
        Settings.from_env({"REALTIME_UPSTREAM_URL": "http://u:secret@x/v1/realtime"})
    assert "secret" not in str(bad.value)


def test_call_token_rules_are_read() -> None:
    settings = Settings.from_env(
        {
            "CALL_TOKEN_MAX_LIFETIME": "300",
            "CALL_TOKEN_ISSUER": "https://shop.example",
            "CALL_TOKEN_AUDIENCE": "voice-relay",
        }
    )
    assert settings.call_token_max_lifetime == 300.0
    assert (settings.call_token_issuer, settings.call_token_audience) == (
        "https://shop.example",
        "voice-relay",
    )
