"""Hand-made raw data for the dbt project: the ``raw`` tables per ``ingestion.raw_tables``.

Until (and besides) the real pipeline, the dbt tests and the benchmark load ``raw.*`` from
here, as the ``loader`` role, in exactly the contract's shapes: each ``record`` is what the
API sent (Binance prices as strings, Coinbase numbers, Kraken's result key as ``pair``,
Mercado Bitcoin's zipped ``{"t","o",…}`` strings, Frankfurter rates unpivoted, …).

Two kinds of rows:

* ``fixture_rows()``: the saved real responses in ``tests/fixtures`` (via
  ``tests/conftest.SHARED_FIXTURES``), one raw row per record, at their real timestamps;
* ``synthetic_rows()``: a small deterministic market (random walks per asset, consistent
  across exchanges with a few basis points of noise, a Brazil premium, ECB business-day FX)
  ending at the current hour, whose newest candles are still open.

Run ``python tests/dbt/rawdata.py --dsn <loader dsn>`` to fill a database by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ingestion import asset_symbols
from ingestion.connectors.registry import EXCHANGES
from ingestion.raw_tables import RAW_TABLES, get_table
from ingestion.simulator.resolved import sim_resolution
from ingestion.simulator.universe import BY_ID
from ingestion.sinks.raw.schema import BOOKKEEPING_DDL, table_ddl

EXCHANGE_QUOTES = {s.name: s.exchange.quote_currency for s in EXCHANGES if s.exchange}

SHARED_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of ../shared/fixtures


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row of a raw table: natural key values, the record, and when it was seen."""

    table: str  # "<source>__<endpoint>"
    keys: tuple[Any, ...]
    record: Any
    fetched_at: datetime
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    run_id: str = "handmade"
    lake_document_id: str = "000000000000000000000000"


@dataclass(slots=True)
class RawBatch:
    rows: list[RawRow] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    symbols: list[dict[str, Any]] = field(default_factory=list)  # raw.asset_symbols rows

    def extend(self, other: RawBatch) -> None:
        self.rows.extend(other.rows)
        self.runs.extend(other.runs)
        self.quarantine.extend(other.quarantine)
        self.symbols.extend(other.symbols)


# --------------------------------------------------------------------------- DDL / load


def create_raw_tables(loader_dsn: str) -> None:
    """Create every raw table of the contract (as ``loader``, owner of schema raw), with the
    raw loader's own DDL so the tables are exactly the ones ingestion creates."""
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        for table in RAW_TABLES:
            conn.execute(table_ddl(table))
        for ddl in BOOKKEEPING_DDL:
            conn.execute(ddl)


def truncate_raw_tables(loader_dsn: str) -> None:
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        names = [t.name for t in RAW_TABLES] + ["ingestion_runs", "quarantine", "asset_symbols"]
        conn.execute(
            sql.SQL("truncate {}").format(
                sql.SQL(", ").join(sql.Identifier("raw", n) for n in names)
            )
        )


def upsert(loader_dsn: str, batch: RawBatch) -> None:
    """Load like the raw loader: insert, or update the record when it changed.

    ``last_seen_at`` always moves; ``fetched_at`` and ``record`` only when the record
    differs, as in the contract.
    """
    by_table: dict[str, dict[tuple[Any, ...], RawRow]] = {}
    for row in batch.rows:  # one row per natural key and batch: the last one wins
        by_table.setdefault(row.table, {})[row.keys] = row
    with psycopg.connect(loader_dsn) as conn, conn.cursor() as cur:
        for name, keyed_rows in by_table.items():
            rows = list(keyed_rows.values())
            table = get_table(*name.split("__", 1))
            cols = [
                *table.key_names,
                "record",
                "fetched_at",
                "first_seen_at",
                "last_seen_at",
                "run_id",
                "lake_document_id",
            ]
            cur.execute(
                "create temporary table if not exists _load (like raw.{} ) on commit drop".replace(
                    "{}", name
                )
            )
            with cur.copy(
                sql.SQL("copy _load ({}) from stdin").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in cols)
                )
            ) as copy:
                for r in rows:
                    copy.write_row(
                        [
                            *r.keys,
                            Jsonb(r.record, dumps=dumps),
                            r.fetched_at,
                            r.first_seen_at or r.fetched_at,
                            r.last_seen_at or r.fetched_at,
                            r.run_id,
                            r.lake_document_id,
                        ]
                    )
            cur.execute(
                sql.SQL(
                    "insert into raw.{t} ({cols}) select {cols} from _load "
                    "on conflict ({pk}) do update set "
                    "last_seen_at = excluded.last_seen_at, "
                    "record = case when raw.{t}.record is distinct from excluded.record "
                    "  then excluded.record else raw.{t}.record end, "
                    "fetched_at = case when raw.{t}.record is distinct from excluded.record "
                    "  then excluded.fetched_at else raw.{t}.fetched_at end, "
                    "run_id = excluded.run_id"
                ).format(
                    t=sql.Identifier(name),
                    cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                    pk=sql.SQL(", ").join(sql.Identifier(k) for k in table.key_names),
                )
            )
            cur.execute("drop table _load")
        conn.commit()
        # like a loader should after a bulk load: fresh planner statistics (autovacuum's
        # analyze may come minutes later, and dbt's first build would plan blind)
        for name in by_table:
            cur.execute(sql.SQL("analyze raw.{}").format(sql.Identifier(name)))
        for run in batch.runs:
            cur.execute(
                "insert into raw.ingestion_runs (run_id, source, endpoint, started_at, "
                "finished_at, status, requests, retries, fetched, inserted, updated, "
                "unchanged, quarantined, lake_documents, error) values (%(run_id)s, "
                "%(source)s, %(endpoint)s, %(started_at)s, %(finished_at)s, %(status)s, "
                "%(requests)s, %(retries)s, %(fetched)s, %(inserted)s, %(updated)s, "
                "%(unchanged)s, %(quarantined)s, 1, %(error)s) on conflict do nothing",
                run,
            )
        if batch.symbols:
            columns = asset_symbols.COLUMNS
            cur.executemany(
                sql.SQL(
                    "insert into raw.asset_symbols ({}) values ({})"
                    " on conflict (asset_id, exchange_id) do nothing"
                ).format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                    sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
                ),
                batch.symbols,
            )
        for q in batch.quarantine:
            cur.execute(
                "insert into raw.quarantine (run_id, source, endpoint, reason, record, "
                "raw_text, quarantined_at) values (%(run_id)s, %(source)s, %(endpoint)s, "
                "%(reason)s, %(record)s, %(raw_text)s, %(quarantined_at)s)",
                {**q, "record": Jsonb(q["record"]) if q.get("record") is not None else None},
            )
        conn.commit()


# --------------------------------------------------------------------------- fixtures


def _fixture(path: str) -> Any:
    return json.loads((SHARED_FIXTURES / path).read_text(), parse_float=Decimal)


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def dumps(value: Any) -> str:
    """JSON text in which a Decimal keeps its own digits (as the API's number text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def fixture_rows(loaded_at: datetime) -> RawBatch:
    """Every record of the saved real responses, keyed as the loader keys them."""
    batch = RawBatch()
    add = batch.rows.append
    for rec in _fixture("binance/klines_1d.json"):
        add(RawRow("binance__klines", ("BTCUSDT", "1d", _ts(rec[0] / 1000)), rec, loaded_at))
    ohlc = _fixture("kraken/ohlc_60.json")["result"]
    for pair, rows in ohlc.items():
        if pair == "last":
            continue
        for rec in rows:
            add(RawRow("kraken__ohlc", (pair, "1h", _ts(rec[0])), rec, loaded_at))
    # The saved Coinbase response is for ETH-USDT, which criptopipe does not track: the
    # records are loaded as the tracked ETH-USD product (the record holds no product id).
    for rec in _fixture("coinbase/candles_86400.json"):
        add(RawRow("coinbase__candles", ("ETH-USD", "1d", _ts(rec[0])), rec, loaded_at))
    mb = _fixture("mercadobitcoin/candles_1h.json")
    for i, t in enumerate(mb["t"]):
        rec = {k: mb[k][i] for k in ("t", "o", "h", "l", "c", "v")}
        add(RawRow("mercadobitcoin__candles", ("BTC-BRL", "1h", _ts(t)), rec, loaded_at))
    for rec in _fixture("mercadobitcoin/tickers.json"):
        add(RawRow("mercadobitcoin__tickers", (rec["pair"], _ts(rec["date"])), rec, loaded_at))
    for pair, rec in _fixture("kraken/ticker.json")["result"].items():
        observed = datetime(2023, 12, 5, 18, 0, tzinfo=UTC)
        add(RawRow("kraken__ticker", (pair, observed), rec, loaded_at))
    for rec in _fixture("coingecko/coins_markets.json"):
        add(
            RawRow(
                "coingecko__markets",
                (rec["id"], "usd", datetime.fromisoformat(rec["last_updated"])),
                rec,
                loaded_at,
            )
        )
    data = _fixture("coingecko/global.json")["data"]
    add(RawRow("coingecko__global", (_ts(data["updated_at"]),), data, loaded_at))
    for rec in _fixture("fear_greed/fng.json")["data"]:
        day = _ts(int(rec["timestamp"])).date()
        add(RawRow("fear_greed__fng", (day,), rec, loaded_at))
    latest = _fixture("fx/latest.json")
    for quote, rate in latest["rates"].items():
        rec = {"date": latest["date"], "base": latest["base"], "quote": quote, "rate": rate}
        add(
            RawRow(
                "fx__rates",
                (latest["base"], quote, date.fromisoformat(latest["date"])),
                rec,
                loaded_at,
            )
        )
    return batch


# --------------------------------------------------------------------------- synthetic


BASE_PRICES = {
    "BTC": 60000.0,
    "ETH": 3000.0,
    "SOL": 150.0,
    "XRP": 0.55,
    "ADA": 0.45,
    "DOGE": 0.15,
    "LTC": 80.0,
    "LINK": 15.0,
    "DOT": 7.0,
    "BNB": 550.0,
    "USDT": 1.0,
    "USDC": 1.0,
}
DECIMALS = {"binance": 8, "kraken": 5, "coinbase": 4, "mercadobitcoin": 6}
SMALL_ASSETS = ("BTC", "ETH", "SOL", "XRP", "USDT")


@dataclass(frozen=True, slots=True)
class Candle:
    open_at: datetime
    o: float
    h: float
    low: float
    c: float
    v: float


def _fmt(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def _num(x: float, decimals: int) -> Decimal:
    return Decimal(_fmt(x, decimals))


def _usd_paths(
    assets: Iterable[str], start: datetime, hours: int, seed: int
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    market = [rng.gauss(0.0, 0.004) for _ in range(hours + 1)]
    paths: dict[str, list[float]] = {}
    for asset in assets:
        arng = random.Random(f"{seed}:{asset}")
        price = BASE_PRICES[asset]
        stable = BY_ID[asset].is_stablecoin
        path = [price]
        for i in range(hours):
            if stable:
                price = 1.0 + arng.gauss(0.0, 0.0005)
            else:
                price *= math.exp(0.8 * market[i] + arng.gauss(0.0, 0.006))
            path.append(price)
        paths[asset] = path
    return paths


def _fx_rate(currency: str, day: date) -> float:
    base = {"BRL": 5.0, "EUR": 0.92}[currency]
    return base * (1 + 0.02 * math.sin(day.toordinal() / 9.0))


def _hourly_candles(
    path: list[float], start: datetime, noise: random.Random, scale: float
) -> list[Candle]:
    out = []
    for i in range(len(path) - 1):
        o = path[i] * scale * (1 + noise.gauss(0, 0.0003))
        c = path[i + 1] * scale * (1 + noise.gauss(0, 0.0003))
        h = max(o, c) * (1 + abs(noise.gauss(0, 0.002)))
        low = min(o, c) * (1 - abs(noise.gauss(0, 0.002)))
        v = abs(noise.gauss(100, 30)) * 60000 / max(path[i], 1e-9) / 100 + 0.5
        out.append(Candle(start + timedelta(hours=i), o, h, low, c, v))
    return out


def _daily(hourly: list[Candle]) -> list[Candle]:
    days: dict[date, list[Candle]] = {}
    for c in hourly:
        days.setdefault(c.open_at.date(), []).append(c)
    return [
        Candle(
            datetime.combine(d, datetime.min.time(), UTC),
            cs[0].o,
            max(c.h for c in cs),
            min(c.low for c in cs),
            cs[-1].c,
            sum(c.v for c in cs),
        )
        for d, cs in sorted(days.items())
    ]


def candle_record(exchange: str, c: Candle, interval: str) -> Any:
    """The raw ``record`` of one candle, as ``exchange`` sends it."""
    d = DECIMALS[exchange]
    t = int(c.open_at.timestamp())
    if exchange == "binance":
        step = 3600 if interval == "1h" else 86400
        return [
            t * 1000,
            _fmt(c.o, d),
            _fmt(c.h, d),
            _fmt(c.low, d),
            _fmt(c.c, d),
            _fmt(c.v, 8),
            (t + step) * 1000 - 1,
            _fmt(c.v * c.c, 8),
            1000,
            _fmt(c.v / 2, 8),
            _fmt(c.v * c.c / 2, 8),
            "0",
        ]
    if exchange == "kraken":
        vwap = (c.o + c.h + c.low + c.c) / 4
        return [
            t,
            _fmt(c.o, d),
            _fmt(c.h, d),
            _fmt(c.low, d),
            _fmt(c.c, d),
            _fmt(vwap, d),
            _fmt(c.v, 8),
            500,
        ]
    if exchange == "coinbase":
        return [t, _num(c.low, d), _num(c.h, d), _num(c.o, d), _num(c.c, d), _num(c.v, 8)]
    if exchange == "mercadobitcoin":
        return {
            "t": t,
            "o": _fmt(c.o, d),
            "h": _fmt(c.h, d),
            "l": _fmt(c.low, d),
            "c": _fmt(c.c, d),
            "v": _fmt(c.v, 8),
        }
    raise ValueError(exchange)


def candle_key(exchange: str, asset: str) -> str | None:
    """The natural-key symbol a raw candle row of ``exchange`` carries for ``asset``."""
    a = BY_ID[asset]
    return a.names(exchange)[-1] if a.names(exchange) else None


CANDLE_TABLES = {
    "binance": "binance__klines",
    "kraken": "kraken__ohlc",
    "coinbase": "coinbase__candles",
    "mercadobitcoin": "mercadobitcoin__candles",
}


def listing_records() -> list[tuple[str, tuple[Any, ...], Any]]:
    """Every listing the simulator serves, as raw rows: (table, natural key, record)."""
    from ingestion.simulator.resolved import LISTINGS, records

    return [
        (spec.raw_table.name, tuple(key), record)
        for source, spec in LISTINGS.items()
        for key, record in records(source)
    ]


def synthetic_rows(
    days: int = 40,
    assets: Iterable[str] = SMALL_ASSETS,
    *,
    now: datetime | None = None,
    seed: int = 7,
) -> RawBatch:
    """``days`` of hourly and daily candles on every exchange up to ``now`` (open last
    candle), plus snapshots, FX on ECB business days, Fear & Greed, runs and quarantine."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    end_hour = now.replace(minute=0, second=0)
    hours = days * 24 + now.hour + 1  # up to and including the open hour
    start = end_hour - timedelta(hours=hours - 1)
    assets = tuple(assets)
    paths = _usd_paths(assets, start, hours, seed)
    loaded = now
    batch = RawBatch()
    add = batch.rows.append

    first_day = start.date()
    fx_days = [first_day + timedelta(days=i) for i in range((now.date() - first_day).days + 1)]
    for day in fx_days:
        if day.weekday() >= 5:
            continue
        for quote in ("BRL", "EUR"):
            rate = round(_fx_rate(quote, day), 4)
            rec = {"date": day.isoformat(), "base": "USD", "quote": quote, "rate": _num(rate, 4)}
            add(RawRow("fx__rates", ("USD", quote, day), rec, loaded))

    for asset in assets:
        for exchange, table in CANDLE_TABLES.items():
            symbol = candle_key(exchange, asset)
            if symbol is None:
                continue
            noise = random.Random(f"{seed}:{asset}:{exchange}")
            if EXCHANGE_QUOTES[exchange] == "BRL":
                path = [
                    p * _fx_rate("BRL", (start + timedelta(hours=i)).date()) * 1.01
                    for i, p in enumerate(paths[asset])
                ]
            else:
                path = paths[asset]
            hourly = _hourly_candles(path, start, noise, 1.0)
            for interval, candles in (("1h", hourly), ("1d", _daily(hourly))):
                for c in candles:
                    add(
                        RawRow(
                            table,
                            (symbol, interval, c.open_at),
                            candle_record(exchange, c, interval),
                            loaded,
                        )
                    )

    for i, day in enumerate(fx_days):
        value = 20 + (i * 37) % 61
        label = (
            "Extreme Fear"
            if value < 25
            else "Fear"
            if value < 45
            else "Neutral"
            if value < 56
            else "Greed"
            if value < 76
            else "Extreme Greed"
        )
        ts = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
        add(
            RawRow(
                "fear_greed__fng",
                (day,),
                {"value": str(value), "value_classification": label, "timestamp": str(ts)},
                loaded,
            )
        )

    for k in range(3):
        at = end_hour - timedelta(hours=2 - k)
        idx = hours - 1 - (2 - k)
        total = sum(paths[a][idx] * 1e7 for a in assets)
        btc = paths.get("BTC", [0.0] * (idx + 1))[idx] * 1.97e7
        eth = paths.get("ETH", [0.0] * (idx + 1))[idx] * 1.2e8
        total = max(total, btc + eth) * 1.8
        data = {
            "active_cryptocurrencies": 12924,
            "markets": 576,
            "total_market_cap": {"usd": _num(total, 2), "btc": _num(total / 60000, 4)},
            "total_volume": {"usd": _num(total * 0.05, 2)},
            "market_cap_percentage": {
                "btc": _num(100 * btc / total, 6),
                "eth": _num(100 * eth / total, 6),
            },
            "market_cap_change_percentage_24h_usd": _num(0.5 - k * 0.1, 6),
            "updated_at": int(at.timestamp()),
        }
        add(RawRow("coingecko__global", (at,), data, at + timedelta(minutes=1)))
        for rank, asset in enumerate(assets, start=1):
            a = BY_ID[asset]
            price = paths[asset][idx]
            supply = 1e9 if asset != "BTC" else 19_700_000 + 450 * k
            market = {
                "id": a.coingecko_id,
                "symbol": asset.lower(),
                "name": a.name,
                "current_price": _num(price, 6),
                "market_cap": _num(price * supply, 0),
                "market_cap_rank": rank,
                "fully_diluted_valuation": None,
                "total_volume": _num(price * supply * 0.03, 0),
                "high_24h": _num(price * 1.02, 6),
                "low_24h": _num(price * 0.98, 6),
                "price_change_24h": _num(price * 0.01, 6),
                "price_change_percentage_24h": _num(1.0, 5),
                "circulating_supply": _num(supply, 2),
                "total_supply": _num(supply, 2) if asset != "BTC" else 21000000,
                "max_supply": 21000000 if asset == "BTC" else None,
                "ath": _num(price * 1.5, 6),
                "ath_date": "2021-11-10T14:24:11.849Z",
                "atl": _num(price * 0.01, 6),
                "atl_date": "2013-07-06T00:00:00.000Z",
                "roi": None,
                "last_updated": at.isoformat().replace("+00:00", ".000Z"),
            }
            add(
                RawRow(
                    "coingecko__markets",
                    (a.coingecko_id, "usd", at),
                    market,
                    at + timedelta(minutes=1),
                )
            )
        for asset in assets:
            a = BY_ID[asset]
            price = paths[asset][idx]
            if a.binance:
                add(
                    RawRow(
                        "binance__ticker_24hr",
                        (a.binance, at),
                        {
                            "symbol": a.binance,
                            "priceChange": _fmt(price * 0.01, 8),
                            "priceChangePercent": "1.000",
                            "weightedAvgPrice": _fmt(price, 8),
                            "lastPrice": _fmt(price, 8),
                            "bidPrice": _fmt(price * 0.9999, 8),
                            "askPrice": _fmt(price * 1.0001, 8),
                            "openPrice": _fmt(price * 0.99, 8),
                            "highPrice": _fmt(price * 1.02, 8),
                            "lowPrice": _fmt(price * 0.98, 8),
                            "volume": "1000.00000000",
                            "quoteVolume": _fmt(price * 1000, 8),
                            "openTime": int(at.timestamp() * 1000) - 86_400_000,
                            "closeTime": int(at.timestamp() * 1000),
                            "count": 12345,
                        },
                        at,
                    )
                )
            if a.kraken_key:
                p = _fmt(price, 5)
                add(
                    RawRow(
                        "kraken__ticker",
                        (a.kraken_key, at),
                        {
                            "a": [p, "1", "1.000"],
                            "b": [p, "2", "2.000"],
                            "c": [p, "0.1"],
                            "v": ["100.0", "200.0"],
                            "p": [p, p],
                            "t": [100, 200],
                            "l": [_fmt(price * 0.98, 5)] * 2,
                            "h": [_fmt(price * 1.02, 5)] * 2,
                            "o": _fmt(price * 0.99, 5),
                        },
                        at,
                    )
                )
            if a.mercadobitcoin:
                brl = price * _fx_rate("BRL", at.date()) * 1.01
                add(
                    RawRow(
                        "mercadobitcoin__tickers",
                        (a.mercadobitcoin, at),
                        {
                            "pair": a.mercadobitcoin,
                            "high": _fmt(brl * 1.02, 8),
                            "low": _fmt(brl * 0.98, 8),
                            "vol": "12.50000000",
                            "last": _fmt(brl, 8),
                            "buy": _fmt(brl * 0.999, 8),
                            "sell": _fmt(brl * 1.001, 8),
                            "open": _fmt(brl * 0.99, 8),
                            "date": int(at.timestamp()),
                        },
                        at,
                    )
                )

    for asset in assets:
        a = BY_ID[asset]
        for i in range(days):
            day_start = datetime.combine(first_day + timedelta(days=i), datetime.min.time(), UTC)
            price = paths[asset][min(i * 24, hours - 1)]
            ms = int(day_start.timestamp() * 1000)
            point = {
                "prices": [ms, _num(price, 6)],
                "market_caps": [ms, _num(price * 1e9, 0)],
                "total_volumes": [ms, _num(price * 3e7, 0)],
            }
            add(
                RawRow("coingecko__market_chart", (a.coingecko_id, "usd", day_start), point, loaded)
            )

    for table, key, record in listing_records():
        add(RawRow(table, key, record, loaded))
    batch.symbols = asset_symbols.rows_of(sim_resolution(assets), "handmade-1", now)

    counts: dict[str, int] = {}
    for row in batch.rows:
        counts[row.table] = counts.get(row.table, 0) + 1
    for raw_table in RAW_TABLES:
        n = counts.get(raw_table.name, 0)
        batch.runs.append(
            {
                "run_id": "handmade-1",
                "source": raw_table.source,
                "endpoint": raw_table.endpoint,
                "started_at": now - timedelta(minutes=5),
                "finished_at": now,
                "status": "success",
                "requests": 3,
                "retries": 0,
                "fetched": n + 1,
                "inserted": n,
                "updated": 0,
                "unchanged": 0,
                "quarantined": 1,
                "error": None,
            }
        )
        batch.quarantine.append(
            {
                "run_id": "handmade-1",
                "source": raw_table.source,
                "endpoint": raw_table.endpoint,
                "reason": "non-numeric price",
                "record": {"o": "n/a"},
                "raw_text": None,
                "quarantined_at": now - timedelta(minutes=4),
            }
        )
    batch.runs.append(
        {
            "run_id": "handmade-0",
            "source": "kraken",
            "endpoint": "ohlc",
            "started_at": now - timedelta(hours=2),
            "finished_at": now - timedelta(hours=2),
            "status": "failed",
            "requests": 6,
            "retries": 5,
            "fetched": 0,
            "inserted": 0,
            "updated": 0,
            "unchanged": 0,
            "quarantined": 0,
            "error": "EService:Unavailable after 5 retries",
        }
    )
    batch.quarantine.append(
        {
            "run_id": "handmade-1",
            "source": "coingecko",
            "endpoint": "markets",
            "reason": "body is not JSON",
            "record": None,
            "raw_text": "<html><body>520: Web server is returning an unknown error</body></html>",
            "quarantined_at": now - timedelta(minutes=3),
        }
    )
    return batch


def load_all(
    loader_dsn: str,
    *,
    days: int = 40,
    assets: Iterable[str] = SMALL_ASSETS,
    now: datetime | None = None,
) -> RawBatch:
    """Create the raw tables (if needed), empty them, load fixtures and synthetic data."""
    create_raw_tables(loader_dsn)
    truncate_raw_tables(loader_dsn)
    now = now or datetime.now(UTC)
    batch = fixture_rows(now)
    batch.extend(synthetic_rows(days, assets, now=now))
    upsert(loader_dsn, batch)
    return batch


def iter_tables(batch: RawBatch) -> Iterator[str]:
    yield from sorted({r.table for r in batch.rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="DSN of the loader role")
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--assets", default=",".join(SMALL_ASSETS))
    args = parser.parse_args()
    batch = load_all(args.dsn, days=args.days, assets=args.assets.split(","))
    print(f"loaded {len(batch.rows)} raw rows")


if __name__ == "__main__":
    main()
