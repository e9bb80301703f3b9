"""Configuration: one ``Settings`` object, read once from the environment and ``.env``.

Every variable has the ``CRIPTOPIPE_`` prefix and is listed in ``.env.example``.
Library code receives a ``Settings`` (or the part it needs); it never reads ``os.environ``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, create_model, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingestion.connectors.registry import DESCRIPTIONS
from ingestion.intervals import CANDLE_INTERVALS, check_intervals
from ingestion.resolution import DEFAULT_STABLECOINS, parse_asset_requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Tracked unless CRIPTOPIPE_ASSETS says otherwise (any listed ticker can be named there).
DEFAULT_ASSETS: tuple[str, ...] = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "USDT", "USDC")

SOURCES: tuple[str, ...] = tuple(DESCRIPTIONS)
LIVE_BASE_URLS: dict[str, str] = {name: source.base_url for name, source in DESCRIPTIONS.items()}
# Settings fields that every connector module's description adds (see _source_fields).
BASE_URL_SETTINGS = tuple(source.base_url_setting for source in DESCRIPTIONS.values())
API_KEY_SETTINGS = tuple(
    source.api_key_setting for source in DESCRIPTIONS.values() if source.api_key_setting
)


def _blank_to_none(value: object) -> object:
    """``VAR=`` (docker-compose passes an optional variable that way) means unset."""
    return None if isinstance(value, str) and not value.strip() else value


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


_CONFIG = SettingsConfigDict(
    env_prefix="CRIPTOPIPE_",
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    frozen=True,
)


class ReaderSettings(BaseSettings):
    """What a read-only process (the dashboard) may know: where the stores are, and ``reader``.

    That is, the ``reader`` credentials. No admin DSN, no other role's password, no API key: a
    process that loads only these never holds them, even when ``.env`` has them.
    """

    model_config = _CONFIG

    # --- local state and services -------------------------------------------------
    home: Path = Field(
        default=PROJECT_ROOT / ".criptopipe",
        description="Local state: embedded PostgreSQL, FerretDB data, DAGSTER_HOME, logs.",
    )
    postgres_host: str | None = Field(
        default=None,
        description="Host the roles connect to. Unset: the embedded server (127.0.0.1), or "
        "the host of CRIPTOPIPE_POSTGRES_DSN as `services up` recorded it.",
    )
    postgres_port: int = Field(
        default=55432,
        description="TCP port of the embedded PostgreSQL (or of yours, with POSTGRES_HOST).",
    )
    postgres_db: str = Field(default="criptopipe", description="Warehouse database name.")
    mongo_port: int = Field(default=57017, description="TCP port of the local mongod/FerretDB.")
    mongo_db: str = Field(default="lake", description="Lake database name.")
    mongo_reader_uri: SecretStr | None = Field(
        default=None,
        description="URI (with a read-only user's credentials) for what only reads the lake. "
        "Unset: CRIPTOPIPE_MONGO_URI's server as the writer, or the local server.",
    )
    reader_password: SecretStr | None = Field(
        default=None,
        description="Password of the read-only `reader` role (dashboard). Unset: generated "
        "by `services up` into <home>/secrets/reader.password.",
    )

    # --- dashboard -------------------------------------------------------------------
    dashboard_port: int = Field(default=8501, description="Port of the Streamlit dashboard.")
    dashboard_address: str = Field(
        default="127.0.0.1",
        description="Address the dashboard binds. Anything but loopback needs "
        "CRIPTOPIPE_DASHBOARD_PASSWORD (or Streamlit auth in .streamlit/secrets.toml).",
    )
    dashboard_password: SecretStr | None = Field(
        default=None, description="Password the dashboard asks for (required off loopback)."
    )

    @field_validator("mongo_reader_uri", "reader_password", "dashboard_password", mode="before")
    @classmethod
    def _reader_blank_is_unset(cls, value: object) -> object:
        return _blank_to_none(value)


class _Settings(ReaderSettings):
    """All of criptopipe's configuration but each source's own settings (see below)."""

    model_config = _CONFIG

    postgres_dsn: SecretStr | None = Field(
        default=None,
        description="Admin DSN of your own PostgreSQL, used only by `services up` (bootstrap). "
        "Unset: embedded PostgreSQL.",
    )
    mongo_uri: SecretStr | None = Field(
        default=None,
        description="URI of your own MongoDB (the lake writer's credentials, if any). "
        "Unset: mongod on PATH, else a local FerretDB.",
    )
    ferretdb_cache: Path | None = Field(
        default=None,
        description="Where the FerretDB binary is built and cached (default: ~/.cache/criptopipe).",
    )
    loader_password: SecretStr | None = Field(
        default=None,
        description="Password of the `loader` role (ingestion). Unset: generated by "
        "`services up` into <home>/secrets/loader.password.",
    )
    transformer_password: SecretStr | None = Field(
        default=None,
        description="Password of the `transformer` role (dbt). Unset: generated by "
        "`services up` into <home>/secrets/transformer.password.",
    )

    # --- what is tracked -----------------------------------------------------------
    assets: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_ASSETS,
        description="Comma-separated tickers to track (BTC,ETH,AVAX): any ticker the "
        "exchanges or CoinGecko list; each resolves to its symbol on every exchange from "
        "the exchanges' own listings. Where CoinGecko has several coins with one ticker, "
        "name the one you mean: AVAX=avalanche-2.",
    )
    stablecoins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_STABLECOINS,
        description="Tickers of coins pegged to the US dollar (marked is_stablecoin).",
    )
    fx_currencies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("BRL", "EUR"), description="Currencies to convert USD into (Frankfurter)."
    )
    candle_intervals: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("1h", "1d"),
        description=f"Candle intervals to ingest, any of {', '.join(CANDLE_INTERVALS)}; "
        "each exchange fetches those it serves, the marts roll the others up.",
    )
    start_date: date = Field(
        default=date(2024, 1, 1), description="First day of history for backfills and partitions."
    )
    markets_top_n: int = Field(
        default=50, ge=0, description="How many coins /coins/markets fetches."
    )
    now: datetime | None = Field(
        default=None,
        description="Freeze the run clock at this UTC instant (ISO-8601): tests set it to the "
        "simulator's clock. Unset: the real time.",
    )
    alert_webhook_url: SecretStr | None = Field(
        default=None,
        description="Webhook (Slack-compatible JSON) that failed runs, failed blocking checks "
        "and freshness violations are posted to; alerts are always logged too.",
    )

    # --- deadlines of the two stores --------------------------------------------------
    postgres_connect_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of connecting to PostgreSQL."
    )
    postgres_statement_timeout_seconds: float = Field(
        default=600.0, ge=0, description="Longest statement ingestion runs (0: no limit)."
    )
    mongo_server_selection_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long to look for a reachable MongoDB server."
    )
    mongo_socket_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait for a MongoDB reply."
    )
    mongo_journal: bool = Field(
        default=True, description="Lake writes are acknowledged only once journaled (j: true)."
    )
    lake_ack_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Longest wait, inside a raw transaction, for the "
        "lake to acknowledge that batch's documents; past it the batch rolls back.",
    )
    parse_process: bool = Field(
        default=False,
        description="Parse candle pages in a second process (on Linux, with 2 or more CPUs) "
        "while the run's own fetches and loads; off by default: on two cores shared with "
        "PostgreSQL and the lake it adds CPU and no speed (it pays where a core is free).",
    )
    parse_process_min_pages: int = Field(
        default=32,
        ge=0,
        description="A candle endpoint's pages go to the parse process only when its run "
        "plans at least this many (a small run is not worth the round trips).",
    )

    # --- HTTP -----------------------------------------------------------------------
    http_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one HTTP request."
    )
    http_max_retries: int = Field(default=5, ge=0, description="Retries of a transient failure.")
    http_backoff_base_seconds: float = Field(default=0.5, ge=0, description="First backoff delay.")
    http_backoff_max_seconds: float = Field(
        default=60.0, ge=0, description="Longest backoff delay."
    )
    http_retry_after_min_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Shortest wait after a 429 or 5xx, whatever Retry-After "
        "says (`Retry-After: 0` does not mean hammer the server).",
    )
    http_retry_after_max_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Longest Retry-After waited out; a longer one fails "
        "the host's requests for the rest of that wait instead.",
    )
    http_max_body_bytes: int = Field(
        default=64 << 20,
        gt=0,
        description="Largest response body accepted, after "
        "decompression (gzip included); a bigger one fails its request.",
    )
    http_rate_limits: dict[str, float] = Field(
        default_factory=dict,
        description="Requests per minute per source, overriding the built-in limits; 0 turns "
        'a limit off (e.g. against the simulator). JSON: {"coingecko": 30}.',
    )
    dagster_port: int = Field(default=3000, description="Port of the Dagster UI.")
    dagster_storage: Literal["sqlite", "postgres"] = Field(
        default="sqlite",
        description="Where Dagster keeps runs, events and schedules: sqlite (files in "
        "DAGSTER_HOME) or postgres (a database of its own on the warehouse's server).",
    )
    dagster_db: str = Field(
        default="dagster", description="Database of Dagster's storage (with postgres)."
    )
    dagster_password: SecretStr | None = Field(
        default=None,
        description="Password of the `dagster` role that owns that database. Unset: "
        "generated into <home>/secrets/dagster.password.",
    )

    @field_validator("http_rate_limits")
    @classmethod
    def _check_rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {
            source: rate for source, rate in value.items() if not math.isfinite(rate) or rate < 0
        }
        if bad:
            raise ValueError(f"requests per minute must be 0 (no limit) or more, got {bad}")
        unknown = sorted(set(value) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; sources: {', '.join(SOURCES)}")
        return value

    @field_validator(
        *API_KEY_SETTINGS,
        "postgres_dsn",
        "mongo_uri",
        "loader_password",
        "transformer_password",
        "dagster_password",
        "alert_webhook_url",
        mode="before",
        check_fields=False,  # the API key fields are added per source, below
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return _blank_to_none(value)

    @field_validator("stablecoins", mode="before")
    @classmethod
    def _parse_stablecoins(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, tuple | list):
            return tuple(str(v).strip().upper() for v in value)
        return value

    @field_validator("assets", mode="before")
    @classmethod
    def _parse_assets(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, tuple | list):
            return tuple(str(request) for request in parse_asset_requests(map(str, value)))
        return value

    @field_validator("now")
    @classmethod
    def _utc_now(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("fx_currencies", mode="before")
    @classmethod
    def _parse_currencies(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, tuple | list):
            return tuple(str(v).upper() for v in value)
        return value

    @field_validator("candle_intervals", mode="before")
    @classmethod
    def _parse_intervals(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, tuple | list):
            return check_intervals([str(v) for v in value])
        return value

    @field_validator(*BASE_URL_SETTINGS, check_fields=False)
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    def base_url(self, source: str) -> str:
        """The configured base URL of ``source`` (``CRIPTOPIPE_<SOURCE>_BASE_URL``).

        Args:
            source: The source id.

        Returns:
            The URL, without a trailing slash.

        Raises:
            ValueError: For an unknown source.
        """
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")
        return str(getattr(self, DESCRIPTIONS[source].base_url_setting))

    def base_urls(self) -> dict[str, str]:
        """The configured base URL of every source."""
        return {source: self.base_url(source) for source in SOURCES}

    def api_key(self, source: str) -> SecretStr | None:
        """The configured API key of ``source`` (``CRIPTOPIPE_<SOURCE>_API_KEY``), if any.

        Args:
            source: The source id.

        Returns:
            The key, or None when none is configured or the API takes none.
        """
        setting = DESCRIPTIONS[source].api_key_setting if source in DESCRIPTIONS else None
        key: SecretStr | None = getattr(self, setting) if setting else None
        return key

    @property
    def dagster_home(self) -> Path:
        """The default ``DAGSTER_HOME``: ``<home>/dagster``."""
        return self.home / "dagster"

    @property
    def ferretdb_cache_dir(self) -> Path:
        """Where FerretDB is built: ``CRIPTOPIPE_FERRETDB_CACHE``, else ``~/.cache/criptopipe``."""
        if self.ferretdb_cache is not None:
            return self.ferretdb_cache
        return Path.home() / ".cache" / "criptopipe"


def _source_fields() -> dict[str, Any]:
    """Each source's settings, from its connector module's description.

    The API key (for an API that takes one), then the base URL
    (``CRIPTOPIPE_<SOURCE>_BASE_URL``).
    """
    fields: dict[str, Any] = {}
    for source in DESCRIPTIONS.values():
        if source.api_key is not None and source.api_key_setting is not None:
            fields[source.api_key_setting] = (
                SecretStr | None,
                Field(default=None, description=source.api_key.description),
            )
        fields[source.base_url_setting] = (
            str,
            Field(
                default=source.base_url,
                description=f"Base URL of the {source.title} API "
                "(point it at the simulator for offline runs).",
            ),
        )
    return fields


if TYPE_CHECKING:
    Settings = _Settings
else:
    Settings = create_model(
        "Settings",
        __base__=_Settings,
        __module__=__name__,
        __doc__="All of criptopipe's configuration.",
        **_source_fields(),
    )


def lake_database_for(database: str) -> str:
    """The lake database that goes with a warehouse database: criptopipe_demo → lake_demo."""
    if database == "criptopipe":
        return "lake"
    if database.startswith("criptopipe_"):
        return "lake_" + database.removeprefix("criptopipe_")
    return f"{database}_lake"


def load_settings(**overrides: object) -> Settings:
    """Read the settings once (environment, then ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
