"""Every error criptopipe raises on purpose, in one hierarchy rooted in :class:`IngestionError`.

Catch :class:`IngestionError` to catch any of them; each message says what failed and why,
and names no secret. Errors that used to be a built-in type still are one too (an
:class:`UnknownAssetError` is a ``ValueError``, a :class:`ServiceError` a
``RuntimeError``), so older ``except`` clauses keep working::

    IngestionError
    ├── RequestError               a request failed for good (source, endpoint, request, cause)
    │   ├── RegionBlockedError     HTTP 451: the API refuses this region
    │   ├── BannedError            HTTP 418: the API banned this IP
    │   └── BodyTooLargeError      a body over ``http_max_body_bytes``
    ├── StoreUnavailableError      PostgreSQL or MongoDB cannot be reached
    ├── LoadError                  a batch could not be loaded into ``raw.*``
    │   └── PostgresHungError      PostgreSQL did not answer a batch in time
    ├── LakeTimeoutError           MongoDB did not acknowledge lake documents in time
    ├── LakeDocumentError          one lake document the server refused
    ├── InvalidRecord              a record fails validation (also a ValueError)
    ├── ResolutionError            configured assets cannot be resolved (also a ValueError)
    │   ├── UnknownAssetError      a ticker no listing has (close matches named)
    │   └── AmbiguousAssetError    a ticker several CoinGecko coins share, none ranked
    ├── ServiceError               a local server could not be started (also a RuntimeError)
    └── BackupError                a backup or restore could not be done (also a RuntimeError)

Outside ``ingestion`` the dashboard's and orchestration's own errors derive from
:class:`IngestionError` too (``DataUnavailable``, ``LakeUnavailable``,
``UnguardedBindError``, ``ContractError``).
"""

from __future__ import annotations


class IngestionError(Exception):
    """Base of every error criptopipe raises on purpose."""


# --------------------------------------------------------------------------- HTTP
class RequestError(IngestionError):
    """A request that failed for good: the message names source, endpoint, request, cause."""

    def __init__(
        self, source: str, endpoint: str, request: str, cause: str, status: int | None = None
    ) -> None:
        """Name the request that failed.

        Args:
            source: The API, e.g. ``binance``.
            endpoint: The endpoint of that API, e.g. ``klines``.
            request: The request as described for humans (path and params, never a key).
            cause: Why it failed for good.
            status: The HTTP status of the last answer, if there was one.
        """
        self.source = source
        self.endpoint = endpoint
        self.request = request
        self.cause = cause
        self.status = status
        super().__init__(f"{source}/{endpoint}: GET {request} failed: {cause}")


class RegionBlockedError(RequestError):
    """HTTP 451: the API refuses this region (Binance). Not retried."""


class BannedError(RequestError):
    """HTTP 418: the API banned this IP (Binance). Not retried; the source stops for the run."""


class BodyTooLargeError(RequestError):
    """A body over ``http_max_body_bytes`` (after decompression). Not retried."""


# --------------------------------------------------------------------------- stores
class StoreUnavailableError(IngestionError):
    """PostgreSQL or MongoDB cannot be reached: the message names which, where and why."""


class LoadError(IngestionError):
    """A batch could not be loaded (the connection went away, the server refused it)."""


class PostgresHungError(LoadError):
    """PostgreSQL did not answer a batch within the client's deadline (a hung server)."""


class LakeTimeoutError(IngestionError):
    """MongoDB did not acknowledge lake documents within ``lake_ack_timeout_seconds``."""


class LakeDocumentError(IngestionError):
    """One lake document the server refused (the rest of its batch is stored)."""


# --------------------------------------------------------------------------- data
class InvalidRecord(IngestionError, ValueError):
    """A record that fails validation; the message is the quarantine reason."""


class ResolutionError(IngestionError, ValueError):
    """The configured assets cannot be resolved from the listings; the message says why."""


class UnknownAssetError(ResolutionError):
    """A ticker that no exchange and no CoinGecko coin lists (or an unknown CoinGecko id)."""


class AmbiguousAssetError(ResolutionError):
    """A ticker that names several CoinGecko coins, none of them ranked by market cap."""


# --------------------------------------------------------------------------- operations
class ServiceError(IngestionError, RuntimeError):
    """A local service could not be started, reached or stopped; the message says why."""


class BackupError(IngestionError, RuntimeError):
    """A backup or restore could not be done; the message says why. Nothing was lost."""
