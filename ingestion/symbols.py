"""The asset catalogue: one asset id, and how each provider spells it.

This is the single place that knows that Kraken calls bitcoin ``XBT`` (pair ``XBTUSD``,
result key ``XXBTZUSD``), that Coinbase writes ``BTC-USD`` and Binance ``BTCUSDT``.
The simulator serves these names, the connectors request them, and the dbt seed
``symbol_map.csv`` is generated from the same table (``criptopipe symbols --csv``).

An asset that a provider does not list has ``None`` for that provider: connectors skip it
and say so in the run summary instead of asking for a pair that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.errors import UnknownAssetError


@dataclass(frozen=True, slots=True)
class Asset:
    """One tracked crypto asset and its names on each provider."""

    asset_id: str  # our id: the ticker, upper case (BTC)
    coingecko_id: str  # CoinGecko coin id (bitcoin)
    name: str
    binance: str | None  # Binance spot symbol against USDT (BTCUSDT)
    kraken_pair: str | None  # the pair name to request (XBTUSD)
    kraken_key: str | None  # the result key Kraken answers with (XXBTZUSD)
    coinbase: str | None  # Coinbase Exchange product id (BTC-USD)
    mercadobitcoin: str | None  # Mercado Bitcoin symbol (BTC-BRL)
    is_stablecoin: bool = False


# Quote currency per exchange: what the candle prices are denominated in.
EXCHANGE_QUOTES: dict[str, str] = {
    "binance": "USDT",
    "kraken": "USD",
    "coinbase": "USD",
    "mercadobitcoin": "BRL",
}

CATALOGUE: tuple[Asset, ...] = (
    Asset("BTC", "bitcoin", "Bitcoin", "BTCUSDT", "XBTUSD", "XXBTZUSD", "BTC-USD", "BTC-BRL"),
    Asset("ETH", "ethereum", "Ethereum", "ETHUSDT", "ETHUSD", "XETHZUSD", "ETH-USD", "ETH-BRL"),
    Asset("SOL", "solana", "Solana", "SOLUSDT", "SOLUSD", "SOLUSD", "SOL-USD", "SOL-BRL"),
    Asset("BNB", "binancecoin", "BNB", "BNBUSDT", None, None, None, None),
    Asset("XRP", "ripple", "XRP", "XRPUSDT", "XRPUSD", "XXRPZUSD", "XRP-USD", "XRP-BRL"),
    Asset("ADA", "cardano", "Cardano", "ADAUSDT", "ADAUSD", "ADAUSD", "ADA-USD", "ADA-BRL"),
    Asset("DOGE", "dogecoin", "Dogecoin", "DOGEUSDT", "XDGUSD", "XDGUSD", "DOGE-USD", "DOGE-BRL"),
    Asset("LTC", "litecoin", "Litecoin", "LTCUSDT", "LTCUSD", "XLTCZUSD", "LTC-USD", "LTC-BRL"),
    Asset(
        "LINK", "chainlink", "Chainlink", "LINKUSDT", "LINKUSD", "LINKUSD", "LINK-USD", "LINK-BRL"
    ),
    Asset("DOT", "polkadot", "Polkadot", "DOTUSDT", "DOTUSD", "DOTUSD", "DOT-USD", "DOT-BRL"),
    Asset(
        "USDT",
        "tether",
        "Tether",
        None,
        "USDTUSD",
        "USDTZUSD",
        "USDT-USD",
        "USDT-BRL",
        is_stablecoin=True,
    ),
    Asset(
        "USDC",
        "usd-coin",
        "USDC",
        "USDCUSDT",
        "USDCUSD",
        "USDCUSD",
        None,
        "USDC-BRL",
        is_stablecoin=True,
    ),
)

BY_ID: dict[str, Asset] = {asset.asset_id: asset for asset in CATALOGUE}
BY_COINGECKO_ID: dict[str, Asset] = {asset.coingecko_id: asset for asset in CATALOGUE}

DEFAULT_ASSETS: tuple[str, ...] = (
    "BTC",
    "ETH",
    "SOL",
    "BNB",
    "XRP",
    "ADA",
    "DOGE",
    "USDT",
    "USDC",
)


def get_asset(asset_id: str) -> Asset:
    """Return the catalogue entry for ``asset_id`` (case-insensitive)."""
    try:
        return BY_ID[asset_id.strip().upper()]
    except KeyError:
        known = ", ".join(sorted(BY_ID))
        raise UnknownAssetError(f"unknown asset {asset_id!r}; known assets: {known}") from None


def exchange_symbol(asset: Asset, exchange: str) -> str | None:
    """The symbol ``exchange`` uses for ``asset`` (the pair to request), or None."""
    match exchange:
        case "binance":
            return asset.binance
        case "kraken":
            return asset.kraken_pair
        case "coinbase":
            return asset.coinbase
        case "mercadobitcoin":
            return asset.mercadobitcoin
    raise ValueError(f"unknown exchange {exchange!r}")


def symbol_map_rows() -> list[dict[str, str]]:
    """Rows of the dbt seed ``symbol_map``: every spelling of every asset on every exchange.

    Kraken appears twice per asset: the requested pair and the result key it answers with.
    """
    rows: list[dict[str, str]] = []
    for asset in CATALOGUE:
        for exchange, quote in EXCHANGE_QUOTES.items():
            symbols = [exchange_symbol(asset, exchange)]
            if exchange == "kraken":
                symbols.append(asset.kraken_key)
            for symbol in dict.fromkeys(s for s in symbols if s):
                rows.append(
                    {
                        "exchange_id": exchange,
                        "exchange_symbol": symbol,
                        "asset_id": asset.asset_id,
                        "quote_currency": quote,
                        "coingecko_id": asset.coingecko_id,
                    }
                )
    return rows
