"""The simulated world: which coins exist, and what each exchange lists and calls them.

This is the simulator's stand-in for the exchanges' own databases, not criptopipe's
configuration: the pipeline learns every name below only through the listing endpoints
the simulator serves from it (``sources/listings.py``), as it would from the real APIs.
Next to the tradable pairs of each coin it lists what real listings carry too: pairs in
other quotes, delisted and halted pairs (Binance ``BREAK``, Kraken ``cancel_only``,
Coinbase ``delisted``, Mercado Bitcoin listed-not-traded) and CoinGecko coins that share
a ticker with a better-known one (``btc`` is also ``batcat``).

A pair can be halted while the simulator runs (``SimulatorState.pair_status``): the
listings then show the new status and the pair's market data endpoints stop answering.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SimAsset:
    """One simulated coin and its tradable pair on each exchange (None: not listed).

    Attributes:
        asset_id: The ticker (BTC).
        coingecko_id: Its CoinGecko id (bitcoin).
        name: Display name.
        anchor_usd: Reference USD level the synthetic price moves around.
        supply: Circulating and maximum supply.
        binance: Binance symbol against USDT (BTCUSDT).
        kraken_pair: Kraken altname against USD (XBTUSD).
        kraken_key: Kraken's result key of that pair (XXBTZUSD).
        kraken_base: Kraken's asset code (XXBT).
        coinbase: Coinbase product id against USD (BTC-USD).
        mercadobitcoin: Mercado Bitcoin symbol against BRL (BTC-BRL).
        is_stablecoin: Pegged to the US dollar (its price barely moves).
    """

    asset_id: str
    coingecko_id: str
    name: str
    anchor_usd: float
    supply: tuple[float, float | None]
    binance: str | None = None
    kraken_pair: str | None = None
    kraken_key: str | None = None
    kraken_base: str | None = None
    coinbase: str | None = None
    mercadobitcoin: str | None = None
    is_stablecoin: bool = False

    def symbol(self, exchange: str) -> str | None:
        """Its pair's name on ``exchange`` (Kraken: the altname)."""
        return {
            "binance": self.binance,
            "kraken": self.kraken_pair,
            "coinbase": self.coinbase,
            "mercadobitcoin": self.mercadobitcoin,
        }[exchange]

    def names(self, exchange: str) -> tuple[str, ...]:
        """Every name ``exchange`` knows the pair by, the requested one first.

        Kraken also answers with its result key (XXBTZUSD for XBTUSD).
        """
        first = self.symbol(exchange)
        if first is None:
            return ()
        key = self.kraken_key if first == self.kraken_pair else None
        return tuple(dict.fromkeys(n for n in (first, key) if n))

    def base_code(self, exchange: str) -> str:
        """The code ``exchange`` writes the asset with (Kraken's legacy XXBT; else the ticker)."""
        return (
            self.kraken_base or self.asset_id
            if self.symbol(exchange) == self.kraken_pair
            else self.asset_id
        )


def _everywhere(
    asset_id: str,
    coingecko_id: str,
    name: str,
    anchor_usd: float,
    supply: tuple[float, float | None],
    kraken_base: str | None = None,
    kraken_key: str | None = None,
) -> SimAsset:
    """A coin with the usual names on all four exchanges; Kraken's legacy codes if given."""
    base = kraken_base or asset_id
    alt = base[1:] if len(base) == 4 and base[0] == "X" else base
    return SimAsset(
        asset_id,
        coingecko_id,
        name,
        anchor_usd,
        supply,
        binance=f"{asset_id}USDT",
        kraken_pair=f"{alt}USD",
        kraken_key=kraken_key or f"{alt}USD",
        kraken_base=base,
        coinbase=f"{asset_id}-USD",
        mercadobitcoin=f"{asset_id}-BRL",
    )


CATALOGUE: tuple[SimAsset, ...] = (
    _everywhere(
        "BTC", "bitcoin", "Bitcoin", 42000.0, (19_586_781.0, 21_000_000.0), "XXBT", "XXBTZUSD"
    ),
    _everywhere(
        "ETH", "ethereum", "Ethereum", 2600.0, (120_183_924.988634, None), "XETH", "XETHZUSD"
    ),
    _everywhere("SOL", "solana", "Solana", 90.0, (433_000_000.0, None)),
    SimAsset("BNB", "binancecoin", "BNB", 380.0, (153_856_150.0, 200_000_000.0), binance="BNBUSDT"),
    _everywhere(
        "XRP", "ripple", "XRP", 0.62, (54_000_000_000.0, 100_000_000_000.0), "XXRP", "XXRPZUSD"
    ),
    _everywhere("ADA", "cardano", "Cardano", 0.55, (35_000_000_000.0, 45_000_000_000.0)),
    _everywhere(
        "DOGE", "dogecoin", "Dogecoin", 0.11, (142_475_236_383.705, None), "XXDG", "XDGUSD"
    ),
    _everywhere(
        "LTC", "litecoin", "Litecoin", 95.0, (74_000_000.0, 84_000_000.0), "XLTC", "XLTCZUSD"
    ),
    _everywhere("LINK", "chainlink", "Chainlink", 12.0, (587_000_000.0, 1_000_000_000.0)),
    _everywhere("DOT", "polkadot", "Polkadot", 9.0, (1_300_000_000.0, None)),
    SimAsset(
        "USDT",
        "tether",
        "Tether",
        1.0,
        (91_705_804_322.0054, None),
        binance=None,
        kraken_pair="USDTUSD",
        kraken_key="USDTZUSD",
        kraken_base="USDT",
        coinbase="USDT-USD",
        mercadobitcoin="USDT-BRL",
        is_stablecoin=True,
    ),
    SimAsset(
        "USDC",
        "usd-coin",
        "USDC",
        1.0,
        (24_000_000_000.0, None),
        binance="USDCUSDT",
        kraken_pair="USDCUSD",
        kraken_key="USDCUSD",
        kraken_base="USDC",
        mercadobitcoin="USDC-BRL",
        is_stablecoin=True,
    ),
    # Beyond criptopipe's old hand-written catalogue: only configuration names them.
    SimAsset(
        "AVAX",
        "avalanche-2",
        "Avalanche",
        35.0,
        (408_000_000.0, 720_000_000.0),
        binance="AVAXUSDT",
        kraken_pair="AVAXUSD",
        kraken_key="AVAXUSD",
        kraken_base="AVAX",
        coinbase="AVAX-USD",
    ),
    SimAsset(
        "PEPE",
        "pepe",
        "Pepe",
        0.00001,
        (420_690_000_000_000.0, 420_690_000_000_000.0),
        binance="PEPEUSDT",
        kraken_pair="PEPEUSD",
        kraken_key="PEPEUSD",
        kraken_base="PEPE",
        mercadobitcoin="PEPE-BRL",
    ),
    SimAsset(
        "TRX",
        "tron",
        "TRON",
        0.12,
        (87_000_000_000.0, None),
        binance="TRXUSDT",
        kraken_pair="TRXUSD",
        kraken_key="TRXUSD",
        kraken_base="TRX",
    ),
)

BY_ID: dict[str, SimAsset] = {asset.asset_id: asset for asset in CATALOGUE}


@dataclass(frozen=True, slots=True)
class ListedPair:
    """A pair a listing shows that the simulator serves no market data for.

    Attributes:
        exchange: The exchange.
        symbol: Its name (Kraken: altname).
        base: The base asset code as that exchange writes it (Kraken: XXBT).
        quote: The quote code as that exchange writes it (Kraken: ZEUR).
        status: The exchange's status word (BREAK, cancel_only, delisted, …).
        key: Kraken's result key (None elsewhere: the symbol).
        asset_id: The simulated coin it trades, if one (its price tick follows it).
    """

    exchange: str
    symbol: str
    base: str
    quote: str
    status: str
    key: str | None = None
    asset_id: str | None = None


# Other quotes, delisted and halted pairs, as real listings carry them.
OTHER_PAIRS: tuple[ListedPair, ...] = (
    ListedPair("binance", "ETHBTC", "ETH", "BTC", "TRADING", asset_id="ETH"),
    ListedPair("binance", "BTCBRL", "BTC", "BRL", "TRADING", asset_id="BTC"),
    ListedPair("binance", "BCCBTC", "BCC", "BTC", "BREAK"),
    ListedPair("binance", "LUNAUSDT", "LUNA", "USDT", "BREAK"),
    ListedPair("binance", "USTUSDT", "UST", "USDT", "BREAK"),
    ListedPair("kraken", "XBTEUR", "XXBT", "ZEUR", "online", "XXBTZEUR", "BTC"),
    ListedPair("kraken", "XBTUSDT", "XXBT", "USDT", "online", "XBTUSDT", "BTC"),
    ListedPair("kraken", "LUNAUSD", "LUNA", "ZUSD", "cancel_only", "LUNAUSD"),
    ListedPair("kraken", "USTUSD", "UST", "ZUSD", "cancel_only", "USTUSD"),
    ListedPair("kraken", "REPEUR", "XREP", "ZEUR", "reduce_only", "XREPZEUR"),
    ListedPair("coinbase", "BTC-EUR", "BTC", "EUR", "online", asset_id="BTC"),
    ListedPair("coinbase", "BTC-USDC", "BTC", "USDC", "delisted", asset_id="BTC"),
    ListedPair("coinbase", "LUNA-USD", "LUNA", "USD", "delisted"),
    ListedPair("coinbase", "UST-USDT", "UST", "USDT", "delisted"),
    ListedPair("mercadobitcoin", "LUNA-BRL", "LUNA", "BRL", "listed, not traded"),
)


@dataclass(frozen=True, slots=True)
class ListedCoin:
    """A CoinGecko ``/coins/list`` entry beyond the simulated coins."""

    coin_id: str
    symbol: str
    name: str


# Coins that only the coin list knows: namesakes of real tickers, and the dead ones.
OTHER_COINS: tuple[ListedCoin, ...] = (
    ListedCoin("batcat", "btc", "batcat"),
    ListedCoin("osmosis-allbtc", "btc", "Osmosis allBTC"),
    ListedCoin("ethereum-wormhole", "eth", "Ethereum (Wormhole)"),
    ListedCoin("the-ticker-is-eth", "eth", "The Ticker Is ETH"),
    ListedCoin("bridged-tether-fuse", "usdt", "Bridged Tether (Fuse)"),
    ListedCoin("avalanche-wormhole", "avax", "Avalanche (Wormhole)"),
    ListedCoin("pepe-2", "pepe", "PEPE 2.0"),
    ListedCoin("terra-luna-2", "luna", "Terra"),
    ListedCoin("terrausd", "ust", "TerraClassicUSD"),
    ListedCoin("1move token", "1mt", "1Move Token"),
    ListedCoin("-4", "🤡", "🤡"),
)
