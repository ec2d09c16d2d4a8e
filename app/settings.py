"""Settings: every environment variable the relay reads, read once and validated.

`Settings.from_env` is the only place that looks at ``os.environ``.  A bad value stops start-up
with a `SettingsError` naming the variable and what is allowed, instead of surfacing later as a
confusing failure in the middle of a call.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import attrs

from app.phone.caller_id import read_mapping
from app.rules.urls import shown_url

SIMULATOR = "simulator"
#: On top of SAVE_TIMEOUT: time for the spool write when the store write failed or timed out.
#: A call's save takes at most SAVE_TIMEOUT + SPOOL_MARGIN, so SHUTDOWN_GRACE must cover it.
SPOOL_MARGIN = 5.0
#: With RECORD_CALLS: the most a call's shutdown spends finishing its recording before the save
#: (`app.recording.writer.FINISH_TIMEOUT`), so SHUTDOWN_GRACE must cover it too.
RECORDING_MARGIN = 8.0
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_LOG_FORMATS = ("TEXT", "JSON")
_CALLER_ID_MODES = ("HASH", "NUMBER")
#: Where Call Automation publishes the keys it signs callbacks and media connections with.
ACS_JWKS_URL = "https://acscallautomation.communication.azure.com/calling/keys"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

T = TypeVar("T")


def _caller_id_map(path: str | None) -> tuple[tuple[str, str], ...]:
    """The numbers-to-customer-ids file named by ``CALLER_ID_MAP`` (docs/phone.md)."""
    if path is None:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"CALLER_ID_MAP: cannot read {path!r}: {exc}") from None
    try:
        mapping = read_mapping(text)
    except ValueError as exc:
        raise SettingsError(f"CALLER_ID_MAP: {path!r}: {exc}") from None
    return tuple(sorted(mapping.items()))


class SettingsError(ValueError):
    """A setting has a value the relay cannot run with; the message names the variable."""


@attrs.frozen
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    upstream_url: str | None = None
    azure_openai_endpoint: str | None = None
    azure_openai_deployment: str | None = None
    azure_openai_api_version: str | None = None
    azure_openai_api_key: str | None = attrs.field(default=None, repr=False)
    openai_api_key: str | None = attrs.field(default=None, repr=False)
    cosmos_endpoint: str | None = None
    cosmos_database: str = "GenAI"
    cosmos_container: str = "AI_Conversations"
    cosmos_key: str | None = attrs.field(default=None, repr=False)
    cosmos_verify_tls: bool = True
    data_dir: Path = Path("data")
    admin_token: str | None = attrs.field(default=None, repr=False)
    call_token_secret: str | None = attrs.field(default=None, repr=False)
    call_token_max_lifetime: float = 3600.0
    call_token_issuer: str | None = None
    call_token_audience: str | None = None
    allowed_origins: tuple[str, ...] | None = None
    log_level: str = "INFO"
    call_idle_timeout: float = 30.0
    call_max_duration: float = 3600.0
    save_timeout: float = 10.0
    checkpoint_interval: float = 15.0
    shutdown_grace: float = 25.0
    max_frame_bytes: int = 1_048_576
    max_calls: int = 500
    ws_compression: bool = False
    input_transcription_model: str = "gpt-4o-mini-transcribe"
    voice: str = "alloy"
    tool_timeout: float = 10.0
    workers: int = 1
    log_format: str = "text"
    max_frame_rate: float = 250.0
    max_text_rate: float = 200.0
    max_calls_per_customer: int = 5
    redact_pii: bool = True
    #: False on a file system shared between hosts (Azure Files), where flock is not trusted:
    #: each process then spools under its own name, with a lease (app.store.spool_leases).
    spool_locks: bool = True
    #: RECORD_CALLS: a stereo WAV of every call (docs/recording.md: consent and retention).
    record_calls: bool = False
    azure_storage_account_url: str | None = None
    azure_storage_connection_string: str | None = attrs.field(default=None, repr=False)
    #: Phone calls (docs/phone.md).  Twilio's routes are on when its auth token is set.
    twilio_auth_token: str | None = attrs.field(default=None, repr=False)
    public_base_url: str | None = None
    caller_id_secret: str | None = attrs.field(default=None, repr=False)
    caller_id_mode: str = "hash"
    #: CALLER_ID_MAP's content, read at start: (number, customer id) pairs.
    caller_id_map: tuple[tuple[str, str], ...] = ()
    #: Phone calls through Azure Communication Services (docs/phone.md): either of the first
    #: two turns them on.  The connection string signs requests with the resource's key; the
    #: endpoint uses the relay's Entra ID identity.
    acs_connection_string: str | None = attrs.field(default=None, repr=False)
    acs_endpoint: str | None = None
    acs_resource_id: str | None = None
    acs_webhook_key: str | None = attrs.field(default=None, repr=False)
    acs_jwks_url: str = ACS_JWKS_URL

    @property
    def uses_simulator(self) -> bool:
        """True when no real upstream is configured: the built-in simulator answers calls."""
        if self.upstream_url is not None:
            return self.upstream_url == SIMULATOR
        return self.azure_openai_endpoint is None

    @property
    def store_kind(self) -> str:
        return "cosmos" if self.cosmos_endpoint else "sqlite"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; raise `SettingsError` naming the first bad variable."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        d = cls()  # the defaults, written once: in the field declarations above
        settings = cls(
            host=reader.text("HOST", d.host),
            port=reader.number("PORT", d.port, int, minimum=0, maximum=65535),
            upstream_url=reader.optional("REALTIME_UPSTREAM_URL"),
            azure_openai_endpoint=reader.optional("AZURE_OPENAI_ENDPOINT"),
            azure_openai_deployment=reader.optional("AZURE_OPENAI_DEPLOYMENT"),
            azure_openai_api_version=reader.optional("AZURE_OPENAI_API_VERSION"),
            azure_openai_api_key=reader.optional("AZURE_OPENAI_API_KEY"),
            openai_api_key=reader.optional("OPENAI_API_KEY"),
            cosmos_endpoint=reader.optional("COSMOSDB_ENDPOINT"),
            cosmos_database=reader.text("COSMOSDB_DATABASE", d.cosmos_database),
            cosmos_container=reader.text("COSMOSDB_CONTAINER", d.cosmos_container),
            cosmos_key=reader.optional("COSMOSDB_KEY"),
            cosmos_verify_tls=reader.flag("COSMOSDB_VERIFY_TLS", d.cosmos_verify_tls),
            data_dir=Path(reader.text("DATA_DIR", str(d.data_dir))),
            admin_token=reader.optional("ADMIN_TOKEN"),
            call_token_secret=reader.optional("CALL_TOKEN_SECRET"),
            call_token_max_lifetime=reader.seconds(
                "CALL_TOKEN_MAX_LIFETIME", d.call_token_max_lifetime
            ),
            call_token_issuer=reader.optional("CALL_TOKEN_ISSUER"),
            call_token_audience=reader.optional("CALL_TOKEN_AUDIENCE"),
            allowed_origins=reader.origins("ALLOWED_ORIGINS"),
            log_level=reader.choice("LOG_LEVEL", d.log_level, _LOG_LEVELS),
            call_idle_timeout=reader.seconds("CALL_IDLE_TIMEOUT", d.call_idle_timeout),
            call_max_duration=reader.seconds("CALL_MAX_DURATION", d.call_max_duration),
            save_timeout=reader.seconds("SAVE_TIMEOUT", d.save_timeout),
            checkpoint_interval=reader.seconds("CHECKPOINT_INTERVAL", d.checkpoint_interval),
            shutdown_grace=reader.seconds("SHUTDOWN_GRACE", d.shutdown_grace),
            max_frame_bytes=reader.number("MAX_FRAME_BYTES", d.max_frame_bytes, int, minimum=1024),
            max_calls=reader.number("MAX_CALLS", d.max_calls, int, minimum=1),
            ws_compression=reader.flag("WS_COMPRESSION", d.ws_compression),
            input_transcription_model=reader.text(
                "INPUT_TRANSCRIPTION_MODEL", d.input_transcription_model
            ),
            voice=reader.text("REALTIME_VOICE", d.voice),
            tool_timeout=reader.seconds("TOOL_TIMEOUT", d.tool_timeout),
            workers=reader.number("WORKERS", d.workers, int, minimum=1, maximum=256),
            log_format=reader.choice("LOG_FORMAT", d.log_format.upper(), _LOG_FORMATS).lower(),
            max_frame_rate=float(
                reader.number("MAX_FRAME_RATE", d.max_frame_rate, float, minimum=1, maximum=100_000)
            ),
            max_text_rate=float(
                reader.number("MAX_TEXT_RATE", d.max_text_rate, float, minimum=1, maximum=1e9)
            ),
            max_calls_per_customer=reader.number(
                "MAX_CALLS_PER_CUSTOMER", d.max_calls_per_customer, int, minimum=1, maximum=100_000
            ),
            redact_pii=reader.flag("REDACT_PII", d.redact_pii),
            spool_locks=reader.flag("SPOOL_LOCKS", d.spool_locks),
            record_calls=reader.flag("RECORD_CALLS", d.record_calls),
            azure_storage_account_url=reader.optional("AZURE_STORAGE_ACCOUNT_URL"),
            azure_storage_connection_string=reader.optional("AZURE_STORAGE_CONNECTION_STRING"),
            twilio_auth_token=reader.optional("TWILIO_AUTH_TOKEN"),
            public_base_url=reader.optional("PUBLIC_BASE_URL"),
            caller_id_secret=reader.optional("CALLER_ID_SECRET"),
            caller_id_mode=reader.choice(
                "CALLER_ID_MODE", d.caller_id_mode.upper(), _CALLER_ID_MODES
            ).lower(),
            caller_id_map=_caller_id_map(reader.optional("CALLER_ID_MAP")),
            acs_connection_string=reader.optional("ACS_CONNECTION_STRING"),
            acs_endpoint=reader.optional("ACS_ENDPOINT"),
            acs_resource_id=reader.optional("ACS_RESOURCE_ID"),
            acs_webhook_key=reader.optional("ACS_WEBHOOK_KEY"),
            acs_jwks_url=reader.text("ACS_JWKS_URL", d.acs_jwks_url),
        )
        settings._check_phone()
        settings._check_upstream()
        settings._check_time_bounds()
        settings._check_recording_storage()
        settings._check_acs()
        if settings.admin_token is not None and not settings.admin_token.isascii():
            raise SettingsError(
                "ADMIN_TOKEN must be ASCII (it is sent in an HTTP header, which browsers and "
                "proxies carry as ASCII only)"
            )
        if settings.call_token_secret is not None and len(settings.call_token_secret) < 32:
            raise SettingsError(
                "CALL_TOKEN_SECRET must be at least 32 characters (an HS256 key shorter than "
                "the hash is guessable)"
            )
        return settings

    @property
    def phone_enabled(self) -> bool:
        """Whether any phone provider's routes are on."""
        return self.twilio_auth_token is not None or self.acs_enabled

    def _check_phone(self) -> None:
        """A phone provider needs the address it reaches us at and a way to name callers."""
        if self.public_base_url is not None:
            parts = urlsplit(self.public_base_url)
            if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
                raise SettingsError(
                    "PUBLIC_BASE_URL must be the https:// address at which phone providers "
                    f"reach the relay, such as https://relay.example.com, got "
                    f"{self.public_base_url!r}"
                )
        if self.caller_id_secret is not None and len(self.caller_id_secret) < 32:
            raise SettingsError(
                "CALLER_ID_SECRET must be at least 32 characters (it keys the hash that hides "
                "callers' numbers; a short key makes the numbers guessable)"
            )
        if not self.phone_enabled:
            return
        if self.public_base_url is None:
            raise SettingsError(
                "PUBLIC_BASE_URL is required with a phone provider (TWILIO_AUTH_TOKEN, "
                "ACS_CONNECTION_STRING or ACS_ENDPOINT): the provider is given addresses built "
                "from it, and Twilio signs the URL it requested"
            )
        if self.caller_id_mode == "hash" and self.caller_id_secret is None:
            raise SettingsError(
                "CALLER_ID_SECRET is required with a phone provider: callers' numbers are "
                "stored as a keyed hash (or set CALLER_ID_MODE=number to store the numbers)"
            )

    def _check_time_bounds(self) -> None:
        """The shutdown drain must leave a call time to save, or to spool when the store hangs
        (and, with RECORD_CALLS, to finish its recording first)."""
        needed = self.save_timeout + SPOOL_MARGIN
        if self.shutdown_grace < needed:
            raise SettingsError(
                f"SHUTDOWN_GRACE ({self.shutdown_grace:g} s) must be at least SAVE_TIMEOUT + "
                f"{SPOOL_MARGIN:g} s ({needed:g} s): a call ended by a shutdown gets SAVE_TIMEOUT "
                f"for the store and then up to {SPOOL_MARGIN:g} s to write its spool file"
            )
        if self.record_calls and self.shutdown_grace < needed + RECORDING_MARGIN:
            raise SettingsError(
                f"SHUTDOWN_GRACE ({self.shutdown_grace:g} s) must be at least SAVE_TIMEOUT + "
                f"{SPOOL_MARGIN + RECORDING_MARGIN:g} s ({needed + RECORDING_MARGIN:g} s) with "
                f"RECORD_CALLS: a call's shutdown first spends up to {RECORDING_MARGIN:g} s "
                "finishing its recording"
            )

    def _check_recording_storage(self) -> None:
        """One place for recordings: an account URL (Entra ID) or a connection string."""
        url = self.azure_storage_account_url
        if url is not None and self.azure_storage_connection_string is not None:
            raise SettingsError(
                "set AZURE_STORAGE_ACCOUNT_URL (Entra ID) or AZURE_STORAGE_CONNECTION_STRING, "
                "not both: recordings go to one storage account"
            )
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise SettingsError(
                    "AZURE_STORAGE_ACCOUNT_URL must be an https:// URL such as "
                    f"https://ACCOUNT.blob.core.windows.net, got {url!r}"
                )
        connection = self.azure_storage_connection_string
        if connection is not None and "=" not in connection:
            raise SettingsError(
                "AZURE_STORAGE_CONNECTION_STRING must be a storage connection string "
                "(AccountName=...;AccountKey=...;...); the value is not shown"
            )

    def describe_recording(self) -> str:
        """Where recordings go, for the start-up banner; never includes a key."""
        if not self.record_calls:
            return "off"
        if self.azure_storage_account_url is not None:
            return f"Blob Storage {self.azure_storage_account_url} (Entra ID), container recordings"
        if self.azure_storage_connection_string is not None:
            return "Blob Storage (connection string), container recordings"
        return f"files under {self.data_dir / 'recordings'}"

    @property
    def acs_enabled(self) -> bool:
        """Whether the relay answers phone calls through Azure Communication Services."""
        return self.acs_connection_string is not None or self.acs_endpoint is not None

    def _check_acs(self) -> None:
        """ACS needs its resource, a webhook key and the address at which it reaches the relay."""
        if not self.acs_enabled:
            return
        if self.acs_connection_string is not None and self.acs_endpoint is not None:
            raise SettingsError(
                "set ACS_CONNECTION_STRING or ACS_ENDPOINT, not both (the connection string signs "
                "with the resource's key, the endpoint uses the relay's Entra ID identity)"
            )
        if self.acs_connection_string is not None:
            fields = {}
            for part in self.acs_connection_string.split(";"):
                key, _, value = part.partition("=")
                fields[key.strip().lower()] = value.strip()
            if not _https(fields.get("endpoint")) or not fields.get("accesskey"):
                raise SettingsError(
                    "ACS_CONNECTION_STRING must look like endpoint=https://RESOURCE.communication."
                    "azure.com/;accesskey=KEY (the resource's Keys page)"
                )
        if self.acs_endpoint is not None and not _https(self.acs_endpoint):
            raise SettingsError(
                "ACS_ENDPOINT must be an https:// URL such as "
                f"https://RESOURCE.communication.azure.com, got {self.acs_endpoint!r}"
            )
        if self.acs_resource_id is None or not _GUID.fullmatch(self.acs_resource_id):
            raise SettingsError(
                "ACS_RESOURCE_ID must be the ACS resource's immutable resource id, a GUID "
                "(az communication show -n NAME -g GROUP --query immutableResourceId), "
                f"got {self.acs_resource_id!r}"
            )
        if self.acs_webhook_key is None or len(self.acs_webhook_key) < 32:
            raise SettingsError(
                "ACS_WEBHOOK_KEY must be at least 32 characters when ACS is on: it guards the "
                "Event Grid webhook (?key=) and keys the per-call tokens"
            )
        if not _https(self.acs_jwks_url, allow_http=True):
            raise SettingsError(f"ACS_JWKS_URL must be an https:// URL, got {self.acs_jwks_url!r}")

    def _check_upstream(self) -> None:
        if self.upstream_url is not None and self.upstream_url != SIMULATOR:
            parts = urlsplit(self.upstream_url)
            if parts.scheme not in ("ws", "wss") or not parts.hostname:
                raise SettingsError(
                    f"REALTIME_UPSTREAM_URL must be a ws:// or wss:// URL or the word "
                    f"'{SIMULATOR}', got {shown_url(self.upstream_url)!r}"
                )
            return
        if self.upstream_url is None and self.azure_openai_endpoint is not None:
            parts = urlsplit(self.azure_openai_endpoint)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise SettingsError(
                    "AZURE_OPENAI_ENDPOINT must be an https:// URL such as "
                    "https://RESOURCE.openai.azure.com/, got "
                    f"{shown_url(self.azure_openai_endpoint)!r}"
                )
            if not self.azure_openai_deployment:
                raise SettingsError(
                    "AZURE_OPENAI_DEPLOYMENT is required when AZURE_OPENAI_ENDPOINT is set "
                    "(the name of the realtime model deployment)"
                )

    def describe_upstream(self) -> str:
        """Where calls go, for the start-up banner; never includes a key."""
        if self.uses_simulator:
            return "built-in simulator"
        if self.upstream_url is not None:
            return shown_url(self.upstream_url)
        return (
            f"Azure OpenAI {shown_url(self.azure_openai_endpoint or '')} "
            f"deployment {self.azure_openai_deployment}"
        )

    def describe_store(self) -> str:
        if self.cosmos_endpoint:
            return (
                f"Cosmos DB {self.cosmos_endpoint} {self.cosmos_database}/{self.cosmos_container}"
            )
        return f"SQLite {self.data_dir / 'conversations.sqlite3'}"

    @property
    def logging_level(self) -> int:
        return int(logging.getLevelName(self.log_level))


def _https(url: str | None, *, allow_http: bool = False) -> bool:
    """Whether ``url`` is an https:// URL with a host (or http://, when allowed)."""
    if not url:
        return False
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    return parts.scheme in schemes and bool(parts.hostname)


@attrs.frozen
class _Reader:
    """Typed accessors over an environment mapping that raise `SettingsError` with the name."""

    env: Mapping[str, str]

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).upper()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {value!r}")

    def number(
        self,
        name: str,
        default: T,
        parse: Callable[[str], T],
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        kind = "a whole number" if parse is int else "a number"
        try:
            value = parse(raw)
        except ValueError:
            raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
        number = float(value)  # type: ignore[arg-type]
        if number != number or number in (float("inf"), float("-inf")):
            raise SettingsError(f"{name} must be a finite number, got {raw!r}")
        if minimum is not None and number < minimum:
            raise SettingsError(f"{name} must be at least {minimum:g}, got {raw!r}")
        if maximum is not None and number > maximum:
            raise SettingsError(f"{name} must be at most {maximum:g}, got {raw!r}")
        return value

    def seconds(self, name: str, default: float) -> float:
        value = self.number(name, default, float, minimum=0.001)
        return float(value)

    def origins(self, name: str) -> tuple[str, ...] | None:
        raw = self.optional(name)
        if raw is None:
            return None
        origins = tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise SettingsError(
                    f"{name} must be a comma-separated list of origins like "
                    f"https://example.com, got {origin!r}"
                )
        return origins
