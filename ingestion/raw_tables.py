"""The ``raw`` schema contract: one table per source endpoint, one row per record.

This is the interface between ingestion (which creates and loads these tables) and dbt
(whose sources read them). Every table has its natural-key columns, then the same
bookkeeping columns:

``record jsonb``       the record as the API gave it (see ``record_shape``)
``fetched_at``         when the response holding the newest version of the record arrived
``first_seen_at``      when the record was first loaded
``last_seen_at``       when the record was last seen in a response (changed or not)
``run_id``             the ingestion run that last wrote the record
``lake_document_id``   the ``_id`` of the ``lake.responses`` document it came from: 32 hex
                       digits computed from the response's identity (an ObjectId's hex in
                       lakes written before ids were computed); the row commits only after
                       that document is stored, so it always exists

Asset keys in Dagster are ``raw/<source>/<endpoint>``; the table is ``raw.<source>__<endpoint>``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyColumn:
    name: str
    pg_type: str  # text | timestamptz | date


@dataclass(frozen=True, slots=True)
class RawTable:
    source: str
    endpoint: str
    keys: tuple[KeyColumn, ...]
    record_shape: str  # what one ``record`` holds, for humans and dbt authors
    loaded_at_field: str = "fetched_at"
    # OHLC candles: dbt's incremental candle marts select the rows seen since their last
    # build (``last_seen_at > …``), so these tables carry an index on ``last_seen_at``.
    is_candles: bool = False

    @property
    def name(self) -> str:
        return f"{self.source}__{self.endpoint}"

    @property
    def qualified_name(self) -> str:
        return f"raw.{self.name}"

    @property
    def asset_key(self) -> tuple[str, str, str]:
        return ("raw", self.source, self.endpoint)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


def _k(name: str, pg_type: str = "text") -> KeyColumn:
    return KeyColumn(name, pg_type)


RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        "coingecko",
        "markets",
        (_k("coin_id"), _k("vs_currency"), _k("last_updated_at", "timestamptz")),
        "one element of the /coins/markets array, as sent (object)",
    ),
    RawTable(
        "coingecko",
        "global",
        (_k("updated_at", "timestamptz"),),
        "the `data` object of /global (total_market_cap, market_cap_percentage, updated_at, …)",
    ),
    RawTable(
        "coingecko",
        "market_chart",
        (_k("coin_id"), _k("vs_currency"), _k("observed_at", "timestamptz")),
        'one point of /coins/{id}/market_chart: {"prices": [ms, price], '
        '"market_caps": [ms, cap], "total_volumes": [ms, volume]} (the three arrays zipped)',
    ),
    RawTable(
        "binance",
        "klines",
        (_k("symbol"), _k("interval"), _k("open_time", "timestamptz")),
        "one kline row, the 12-element array as sent: [open ms, o, h, l, c, volume, close ms, "
        "quote volume, trades, taker base, taker quote, ignore] (prices as strings)",
        is_candles=True,
    ),
    RawTable(
        "binance",
        "ticker_24hr",
        (_k("symbol"), _k("close_time", "timestamptz")),
        "one /api/v3/ticker/24hr object, as sent (prices as strings)",
    ),
    RawTable(
        "kraken",
        "ohlc",
        (_k("pair"), _k("interval"), _k("open_time", "timestamptz")),
        "one OHLC row as sent: [time s, o, h, l, c, vwap, volume, count]; `pair` is Kraken's "
        "result key (XXBTZUSD); interval is '1h' or '1d'",
        is_candles=True,
    ),
    RawTable(
        "kraken",
        "ticker",
        (_k("pair"), _k("observed_at", "timestamptz")),
        "one Ticker result value (object of string arrays) as sent; Kraken gives no timestamp, "
        "so observed_at is the fetch time truncated to the second",
    ),
    RawTable(
        "coinbase",
        "candles",
        (_k("product_id"), _k("interval"), _k("open_time", "timestamptz")),
        "one candle row as sent: [time s, low, high, open, close, volume] (numbers); "
        "interval is '1h' (3600) or '1d' (86400)",
        is_candles=True,
    ),
    RawTable(
        "fear_greed",
        "fng",
        (_k("observed_on", "date"),),
        "one element of `data` as sent: value, value_classification, timestamp (strings), "
        "time_until_update on the newest",
    ),
    RawTable(
        "fx",
        "rates",
        (_k("base_currency"), _k("quote_currency"), _k("rate_date", "date")),
        'one rate, unpivoted from Frankfurter\'s {"rates": {date: {CUR: rate}}}: '
        '{"date": "2024-05-03", "base": "USD", "quote": "BRL", "rate": 5.07}',
    ),
    RawTable(
        "mercadobitcoin",
        "tickers",
        (_k("pair"), _k("ticker_at", "timestamptz")),
        "one /tickers object as sent (prices as strings, date epoch s)",
    ),
    RawTable(
        "mercadobitcoin",
        "candles",
        (_k("symbol"), _k("interval"), _k("open_time", "timestamptz")),
        'one candle zipped from the parallel arrays: {"t": s, "o": "…", "h": "…", "l": "…", '
        '"c": "…", "v": "…"} (strings as sent); interval is \'1h\' or \'1d\'',
        is_candles=True,
    ),
)

BY_NAME: dict[str, RawTable] = {t.name: t for t in RAW_TABLES}


def get_table(source: str, endpoint: str) -> RawTable:
    try:
        return BY_NAME[f"{source}__{endpoint}"]
    except KeyError:
        raise ValueError(f"no raw table for {source}/{endpoint}") from None


# Bookkeeping tables (created by ingestion next to the per-endpoint tables):
#
# raw.ingestion_runs  one row per run and endpoint; primary key (run_id, source, endpoint)
#   run_id text, source text, endpoint text, started_at timestamptz, finished_at timestamptz,
#   status text ('success' | 'partial' | 'failed'), requests int, retries int,
#   fetched int, inserted int, updated int, unchanged int, quarantined int,
#   lake_documents int, error text, notes text (e.g. history a provider could not give)
#   Invariant: fetched = inserted + updated + unchanged + quarantined.
#
# raw.quarantine  one row per record (or body) that failed validation
#   quarantine_id bigserial primary key, run_id text, source text, endpoint text,
#   reason text, record jsonb (null when the body was not JSON), raw_text text,
#   lake_document_id text, quarantined_at timestamptz
#
# raw.known_empty  periods a provider has no record for (e.g. Coinbase sends no candle for
#   an hour without trades): source, endpoint, series text ("BTC-USD 1h"),
#   period_start timestamptz, reason text, run_id, recorded_at; primary key
#   (source, endpoint, series, period_start). The gap sensor does not ask for these again.
BOOKKEEPING_TABLES = ("ingestion_runs", "quarantine", "known_empty")
