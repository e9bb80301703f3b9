"""What is true of one API as a whole, declared once in its connector module.

A connector module holds a :class:`Source` (``DESCRIPTION``) next to its endpoints. The
settings (``CRIPTOPIPE_<SOURCE>_BASE_URL``, the API key setting), the HTTP client (rate
limit, key header, errors hidden in a 200 body, request-weight headers), ``.env.example``
and an exchange's quote and listing reader all read it from the registry instead of
naming sources. Data where an API is ordinary, a small hook where it is odd.

This module imports nothing from the rest of the package, so :mod:`ingestion.settings`
can read the descriptions without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingestion.listings import Listing

ListingReader = Callable[[tuple[Any, ...], Any], "Listing"]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An optional API key: its setting, the header it travels in, the rate it buys.

    Args:
        header: Request header that carries the key (never a query parameter, so no URL
            that is logged ever holds it).
        description: What the key is, for the setting's help and ``.env.example``.
        rate_limit: Requests per minute allowed while a key is configured.
    """

    header: str
    description: str
    rate_limit: float | None = None


@dataclass(frozen=True, slots=True)
class BodyErrors:
    """How an API reports errors inside an HTTP 200 body (Kraken's ``{"error": [...]}``).

    Args:
        read: The error messages in a parsed body (empty: the body is data).
        transient: Message prefixes worth another attempt; any other error fails at once.
        rate_limited: Message prefixes that mean "rate limited": the whole host pauses.
    """

    read: Callable[[Any], list[str]]
    transient: tuple[str, ...] = ()
    rate_limited: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestWeight:
    """A per-minute request-weight budget the API reports in a response header (Binance).

    Args:
        header: Response header with the weight used in the current minute.
        budget: The smallest published per-minute budget; requests slow down near it
            until the API's own figure is known.
        published_by: The endpoint whose responses publish the API's budget (Binance's
            ``exchange_info``); its newest stored response sets the budget at a run's start.
        read_published: The per-minute budget a response publishes, given its path and
            parsed body; None when it publishes none.
    """

    header: str
    budget: int
    published_by: str | None = None
    read_published: Callable[[str, Any], int | None] | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """What an exchange's prices are in, and how its listing reads.

    Which pair an asset trades as is not written here: it is resolved from the
    exchange's own listing (``ingestion.resolution``), read by ``read_listing``.

    Args:
        quote_currency: Currency criptopipe tracks pairs in (USDT, USD, BRL).
        name: The exchange's name for people (``Binance``).
        listing: The endpoint name of its listing (``exchange_info``): which pairs exist.
        read_listing: One raw row of that listing (natural key, record) as a
            :class:`~ingestion.listings.Listing`, in common tickers.
        country_code: ISO 3166-1 alpha-2 code of the operator's registered country.
        website_url: Public website.
    """

    quote_currency: str
    name: str
    listing: str
    read_listing: ListingReader
    country_code: str | None = None
    website_url: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """One API, described once (see the module docstring for who reads what).

    Args:
        name: The source id: asset keys ``raw/<name>/…``, tables ``raw.<name>__…``, and
            the setting ``CRIPTOPIPE_<NAME>_BASE_URL``.
        title: The API's name for people (``Mercado Bitcoin v4``).
        base_url: The live base URL (the setting's default).
        rate_limit: Requests per minute we allow ourselves (below the published limit).
        api_key: The optional key, or None for a keyless API.
        body_errors: How errors hide in a 200 body, or None when a 200 is always data.
        weight: The request-weight budget reported in headers, or None.
        region_hint: Another host to suggest when the API refuses a region (HTTP 451).
        exchange: Quote currency and symbol rules, for an exchange; None otherwise.
        kept_headers: Response headers the lake keeps besides the common ones.
    """

    name: str
    title: str
    base_url: str
    rate_limit: float
    api_key: ApiKey | None = None
    body_errors: BodyErrors | None = None
    weight: RequestWeight | None = None
    region_hint: str | None = None
    exchange: Exchange | None = None
    kept_headers: tuple[str, ...] = ()

    @property
    def base_url_setting(self) -> str:
        """The ``Settings`` field of the base URL (``<name>_base_url``)."""
        return f"{self.name}_base_url"

    @property
    def api_key_setting(self) -> str | None:
        """The ``Settings`` field of the API key (``<name>_api_key``), if there is a key."""
        return f"{self.name}_api_key" if self.api_key is not None else None

    def errors_in_body(self, data: Any) -> list[str]:
        """The API errors a parsed 200 body carries (always empty without a rule).

        Args:
            data: The parsed JSON body.

        Returns:
            The error messages, in the API's words.
        """
        return self.body_errors.read(data) if self.body_errors is not None else []
