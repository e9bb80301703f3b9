"""Resolve the configured assets to each exchange's symbol, from the listings themselves.

A user names assets by ticker (``CRIPTOPIPE_ASSETS=BTC,ETH,AVAX``), optionally with the
CoinGecko id where a ticker is ambiguous (``AVAX=avalanche-2``). :func:`resolve` reads the
latest listings (:class:`~ingestion.listings.Listing`, :class:`~ingestion.listings.Coin`)
and gives, per asset, the pair to request on every exchange in that exchange's quote
currency (Binance USDT, Kraken and Coinbase USD, Mercado Bitcoin BRL) — or why there is
none: not listed, listed only in other quotes, or halted/delisted (its status says so).

Nothing here is a catalogue: Kraken's ``XXBTZUSD`` for BTC, Coinbase's ``BTC-USD`` and
CoinGecko's ``bitcoin`` all come from the listings. CoinGecko symbols are not unique
(``btc`` is also ``batcat``); an ambiguous ticker takes the candidate best ranked by market
cap in the latest ``/coins/markets`` snapshot, else it is an error that names the
candidates and how to choose one.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ingestion.connectors.source import Source
from ingestion.errors import AmbiguousAssetError, ResolutionError, UnknownAssetError
from ingestion.listings import Coin, Listing

# Stablecoins, unless configured otherwise (CRIPTOPIPE_STABLECOINS): coins pegged to
# the US dollar. Their prices are flat by design; analytics leave them out where a
# price that does not move would mislead (correlations, top movers).
DEFAULT_STABLECOINS: tuple[str, ...] = (
    "USDT",
    "USDC",
    "DAI",
    "FDUSD",
    "TUSD",
    "USDP",
    "PYUSD",
    "USDE",
    "BUSD",
    "USDS",
)

_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
_COIN_ID = re.compile(r"^\S(.{0,98}\S)?$")


@dataclass(frozen=True, slots=True)
class AssetRequest:
    """One configured asset: its ticker, and the CoinGecko id if the user named one."""

    ticker: str
    coingecko_id: str | None = None

    def __str__(self) -> str:
        return f"{self.ticker}={self.coingecko_id}" if self.coingecko_id else self.ticker


def parse_asset_request(text: str) -> AssetRequest:
    """``"avax"`` → AVAX; ``"AVAX=avalanche-2"`` → AVAX with CoinGecko id avalanche-2.

    Raises:
        ValueError: the entry is not a ticker, optionally ``=`` a CoinGecko id.
    """
    ticker, sep, coin_id = text.partition("=")
    ticker = ticker.strip().upper()
    coin_id = coin_id.strip()
    if not _TICKER.match(ticker):
        raise ValueError(
            f"asset {text.strip()!r} is not a ticker (letters and digits, e.g. BTC), "
            "optionally followed by =<CoinGecko id> (AVAX=avalanche-2)"
        )
    if sep and not _COIN_ID.match(coin_id):
        raise ValueError(f"asset {text.strip()!r}: the CoinGecko id after '=' is empty")
    return AssetRequest(ticker, coin_id or None)


def parse_asset_requests(values: Iterable[str]) -> tuple[AssetRequest, ...]:
    """Parse configured entries; a ticker named twice keeps its first entry.

    Raises:
        ValueError: an entry is malformed, or one ticker has two different CoinGecko ids.
    """
    chosen: dict[str, AssetRequest] = {}
    for value in values:
        request = parse_asset_request(value)
        earlier = chosen.get(request.ticker)
        if earlier is None:
            chosen[request.ticker] = request
        elif request.coingecko_id and earlier.coingecko_id != request.coingecko_id:
            if earlier.coingecko_id is None:
                chosen[request.ticker] = request
            else:
                raise ValueError(
                    f"asset {request.ticker} is configured twice, as {earlier} and {request}"
                )
    return tuple(chosen.values())


@dataclass(frozen=True, slots=True)
class ExchangeSymbol:
    """An asset's pair on one exchange: what to request and what the answers are keyed by."""

    exchange: str
    symbol: str
    key: str
    quote: str
    status: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class Asset:
    """One resolved asset.

    Attributes:
        asset_id: criptopipe's id, the upper-case ticker (BTC).
        coingecko_id: CoinGecko's coin id, or None when CoinGecko lists no such coin.
        name: Display name (CoinGecko's, else an exchange's, else the ticker).
        is_stablecoin: Configured as a stablecoin (CRIPTOPIPE_STABLECOINS).
        pairs: Its pair on each exchange that lists it in that exchange's quote
            currency, active or not.
        reasons: Per exchange, why nothing is requested there (not listed, halted…).
    """

    asset_id: str
    coingecko_id: str | None
    name: str
    is_stablecoin: bool = False
    pairs: Mapping[str, ExchangeSymbol] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)

    def symbol(self, exchange: str) -> str | None:
        """The pair to request on ``exchange``; None when it is not listed or not trading."""
        pair = self.pairs.get(exchange)
        return pair.symbol if pair is not None and pair.is_active else None

    def key(self, exchange: str) -> str | None:
        """The name ``exchange`` answers with for the requested pair (Kraken: XXBTZUSD)."""
        pair = self.pairs.get(exchange)
        return pair.key if pair is not None and pair.is_active else None

    def name_on(self, source: str) -> str | None:
        """What ``source`` is asked for this asset by.

        Its pair on an exchange, else its CoinGecko id (``source`` is CoinGecko).
        """
        if source in self.pairs or source in self.reasons:
            return self.symbol(source)
        return self.coingecko_id

    def reason(self, exchange: str) -> str:
        """Why nothing is requested on ``exchange`` ("" when the pair is requested)."""
        return self.reasons.get(exchange, "")


@dataclass(frozen=True, slots=True)
class Resolution:
    """The resolved assets, in configuration order, and what resolving them noticed."""

    assets: tuple[Asset, ...]
    exchanges: tuple[Source, ...]
    notes: tuple[str, ...] = ()

    def get(self, asset_id: str) -> Asset:
        """The resolved asset ``asset_id`` (case-insensitive); KeyError if not configured."""
        wanted = asset_id.strip().upper()
        for asset in self.assets:
            if asset.asset_id == wanted:
                return asset
        raise KeyError(f"{asset_id!r} is not among the configured assets")

    def select(self, asset_ids: Sequence[str] | None) -> tuple[Asset, ...]:
        """The assets named (all when None), in configuration order.

        Raises:
            ResolutionError: an id is not among the configured, resolved assets.
        """
        if not asset_ids:
            return self.assets
        wanted = [a.strip().upper() for a in asset_ids]
        known = {a.asset_id for a in self.assets}
        missing = [a for a in wanted if a not in known]
        if missing:
            raise ResolutionError(
                f"asset(s) {', '.join(missing)} not configured; configured: "
                f"{', '.join(sorted(known))} (set CRIPTOPIPE_ASSETS to track others)"
            )
        return tuple(a for a in self.assets if a.asset_id in wanted)


@dataclass(slots=True)
class _Catalogue:
    """The listings, indexed for resolution."""

    by_base: dict[tuple[str, str], list[Listing]]  # (exchange, base) -> its pairs
    coins_by_symbol: dict[str, list[Coin]]
    coins_by_id: dict[str, Coin]
    names: dict[str, str]  # base ticker -> a name an exchange gives it
    exchanges: set[str]  # exchanges with a listing

    @classmethod
    def build(cls, listings: Iterable[Listing], coins: Iterable[Coin]) -> _Catalogue:
        by_base: dict[tuple[str, str], list[Listing]] = defaultdict(list)
        names: dict[str, str] = {}
        for listing in listings:
            by_base[(listing.exchange, listing.base)].append(listing)
            if listing.name:
                names.setdefault(listing.base, listing.name)
        coins_by_symbol: dict[str, list[Coin]] = defaultdict(list)
        coins_by_id: dict[str, Coin] = {}
        for coin in coins:
            coins_by_symbol[coin.symbol.upper()].append(coin)
            coins_by_id[coin.coin_id] = coin
        exchanges = {exchange for exchange, _ in by_base}
        return cls(dict(by_base), dict(coins_by_symbol), coins_by_id, names, exchanges)

    def known_tickers(self) -> set[str]:
        return {base for _, base in self.by_base} | set(self.coins_by_symbol)

    def is_listed_anywhere(self, ticker: str) -> bool:
        return ticker in self.coins_by_symbol or any(b == ticker for _, b in self.by_base)


def resolve(
    requests: Sequence[AssetRequest],
    listings: Iterable[Listing],
    coins: Iterable[Coin],
    exchanges: Sequence[Source],
    *,
    ranks: Mapping[str, int] | None = None,
    stablecoins: Iterable[str] = DEFAULT_STABLECOINS,
) -> Resolution:
    """Resolve ``requests`` against the latest listings.

    Args:
        requests: The configured assets, in order.
        listings: Every exchange's current listing (all pairs, any status).
        coins: CoinGecko's current coin list.
        exchanges: The exchanges' descriptions (``Source`` with ``exchange`` rules): the
            quote currency tracked on each.
        ranks: CoinGecko market-cap rank by coin id (the latest ``/coins/markets``),
            used to choose among coins that share a ticker.
        stablecoins: Tickers to mark as stablecoins.

    Returns:
        The resolved assets and notes (pairs not requested and why, guesses made).

    Raises:
        UnknownAssetError: a ticker nothing lists, or a CoinGecko id CoinGecko does not
            have; the message names close matches. Every such ticker is named at once.
        AmbiguousAssetError: a ticker shared by several coins, none of them ranked.
    """
    catalogue = _Catalogue.build(listings, coins)
    ranks = ranks or {}
    stable = {s.strip().upper() for s in stablecoins}
    problems: list[str] = []
    ambiguous: list[str] = []
    assets: list[Asset] = []
    notes: list[str] = []
    have_coins = bool(catalogue.coins_by_id)
    for request in requests:
        ticker = request.ticker
        if request.coingecko_id is None and not catalogue.is_listed_anywhere(ticker):
            problems.append(_unknown_ticker(ticker, catalogue))
            continue
        coin: Coin | None = None
        if request.coingecko_id is not None:
            coin = catalogue.coins_by_id.get(request.coingecko_id)
            if coin is None and have_coins:
                problems.append(_unknown_coin_id(request, catalogue))
                continue
            if coin is not None and coin.symbol.upper() != ticker:
                notes.append(
                    f"{ticker}: CoinGecko id {coin.coin_id} has symbol {coin.symbol!r}, "
                    f"not {ticker.lower()!r}; used as configured"
                )
        else:
            candidates = catalogue.coins_by_symbol.get(ticker, [])
            if len(candidates) == 1:
                coin = candidates[0]
            elif candidates:
                ranked = sorted(
                    (ranks[c.coin_id], c.coin_id) for c in candidates if c.coin_id in ranks
                )
                if not ranked:
                    ambiguous.append(_ambiguous(ticker, candidates))
                    continue
                coin = catalogue.coins_by_id[ranked[0][1]]
                notes.append(
                    f"{ticker}: {len(candidates)} CoinGecko coins have symbol "
                    f"{ticker.lower()!r}; chose {coin.coin_id} (market-cap rank "
                    f"{ranked[0][0]}); set {ticker}=<id> in CRIPTOPIPE_ASSETS to choose another"
                )
            elif have_coins:
                notes.append(f"{ticker}: CoinGecko lists no coin with this symbol (no market data)")
        # halted or delisted pairs are named in the notes of the endpoints that skip them
        pairs, reasons = _pairs(ticker, exchanges, catalogue)
        name = (coin.name if coin is not None else catalogue.names.get(ticker, ticker)) or ticker
        assets.append(
            Asset(
                ticker,
                coin.coin_id if coin is not None else request.coingecko_id,
                name,
                ticker in stable,
                pairs,
                reasons,
            )
        )
    if problems:
        raise UnknownAssetError("; ".join(problems))
    if ambiguous:
        raise AmbiguousAssetError("; ".join(ambiguous))
    return Resolution(tuple(assets), tuple(exchanges), tuple(notes))


def _pairs(
    ticker: str, exchanges: Sequence[Source], catalogue: _Catalogue
) -> tuple[dict[str, ExchangeSymbol], dict[str, str]]:
    pairs: dict[str, ExchangeSymbol] = {}
    reasons: dict[str, str] = {}
    for exchange in exchanges:
        assert exchange.exchange is not None, f"{exchange.name} is not an exchange"
        quote = exchange.exchange.quote_currency
        if exchange.name not in catalogue.exchanges:
            reasons[exchange.name] = "its listing is not loaded yet"
            continue
        listed = catalogue.by_base.get((exchange.name, ticker), [])
        in_quote = [pair for pair in listed if pair.quote == quote]
        if not in_quote:
            others = sorted({pair.quote for pair in listed})
            reasons[exchange.name] = (
                f"not listed against {quote} (only {', '.join(others)})" if others else "not listed"
            )
            continue
        # An active pair wins over a halted one of the same base and quote.
        pair = sorted(in_quote, key=lambda p: (not p.is_active, p.symbol))[0]
        pairs[exchange.name] = ExchangeSymbol(
            exchange.name, pair.symbol, pair.key, pair.quote, pair.status, pair.is_active
        )
        if not pair.is_active:
            reasons[exchange.name] = (
                f"{pair.symbol} is {pair.status} (halted or delisted): not requested"
            )
    return pairs, reasons


def _close(word: str, choices: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(word, sorted(set(choices)), n=5, cutoff=0.6)


def _unknown_ticker(ticker: str, catalogue: _Catalogue) -> str:
    close = _close(ticker, catalogue.known_tickers())
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return f"unknown asset {ticker!r}: no exchange and no CoinGecko coin lists it{hint}"


def _unknown_coin_id(request: AssetRequest, catalogue: _Catalogue) -> str:
    same_symbol = [c.coin_id for c in catalogue.coins_by_symbol.get(request.ticker, [])]
    close = list(dict.fromkeys(_close(str(request.coingecko_id), catalogue.coins_by_id)))
    close += [c for c in same_symbol if c not in close]
    hint = f"; close matches: {', '.join(close[:5])}" if close else ""
    return f"unknown CoinGecko id {request.coingecko_id!r} for asset {request.ticker}{hint}"


def _ambiguous(ticker: str, candidates: Sequence[Coin]) -> str:
    named = ", ".join(f"{c.coin_id} ({c.name})" for c in candidates[:8])
    more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
    return (
        f"asset {ticker} is ambiguous: CoinGecko has {len(candidates)} coins with symbol "
        f"{ticker.lower()!r} and none is ranked in the latest /coins/markets: {named}{more}; "
        f"name one in CRIPTOPIPE_ASSETS as {ticker}=<id>"
    )
