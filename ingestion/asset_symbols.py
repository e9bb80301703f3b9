"""The resolved mapping in the warehouse: read the latest listings, write ``raw.asset_symbols``.

Resolution (``ingestion.resolution``) is pure; this module feeds it the newest listing of
every exchange and CoinGecko's coin list from ``raw.*`` (the rows of a listing table's
newest fetch, ``last_seen_at`` = its max) plus the market-cap ranks of the newest
``/coins/markets`` snapshot, and stores what it resolved in ``raw.asset_symbols``: one row
per (asset, exchange), with the pair requested and the name the exchange answers with, or
why there is none. That table is the one mapping every other part reads: dbt's
``stg_ingestion__asset_symbols`` (and from it ``dim_assets``, ``dim_exchanges`` and the
candle union), the dashboard through those marts, ``criptopipe symbols`` and the Dagster
materialization metadata. Rows of assets no longer configured stay, with
``is_tracked = false``, so history loaded for them keeps its asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from ingestion.connectors.coingecko import read_coin
from ingestion.connectors.registry import EXCHANGES
from ingestion.connectors.source import Source
from ingestion.listings import Coin, Listing
from ingestion.raw_tables import get_table
from ingestion.resolution import Resolution, parse_asset_requests, resolve
from ingestion.settings import Settings

COINS_TABLE = get_table("coingecko", "coins_list")
MARKETS_TABLE = get_table("coingecko", "markets")

DDL = """create table if not exists raw.asset_symbols (
    asset_id text not null,
    exchange_id text not null,
    exchange_symbol text,
    response_symbol text,
    quote_currency text not null,
    listing_status text,
    is_requested boolean not null,
    reason text,
    coingecko_id text,
    asset_name text not null,
    is_stablecoin boolean not null,
    exchange_name text not null,
    exchange_country_code text,
    exchange_website_url text,
    is_tracked boolean not null,
    resolved_at timestamptz not null,
    run_id text not null,
    primary key (asset_id, exchange_id))"""

COLUMNS = (
    "asset_id",
    "exchange_id",
    "exchange_symbol",
    "response_symbol",
    "quote_currency",
    "listing_status",
    "is_requested",
    "reason",
    "coingecko_id",
    "asset_name",
    "is_stablecoin",
    "exchange_name",
    "exchange_country_code",
    "exchange_website_url",
    "is_tracked",
    "resolved_at",
    "run_id",
)


@dataclass(frozen=True, slots=True)
class LoadedListings:
    """What the warehouse holds of the listings: newest entries, ranks, and which are loaded."""

    listings: list[Listing]
    coins: list[Coin]
    ranks: dict[str, int]
    # names of the listing endpoints with rows (binance/exchange_info), and of the ranks'
    loaded: frozenset[str]
    problems: tuple[str, ...] = ()  # entries that could not be read (named, not dropped)


async def ensure_table(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create ``raw.asset_symbols`` if missing."""
    await conn.execute(DDL)


async def _exists(conn: psycopg.AsyncConnection[Any], qualified: str) -> bool:
    """Whether the raw table exists (a fresh warehouse has none until a run makes them)."""
    cur = await conn.execute("select to_regclass(%s) is not null", [qualified])
    row = await cur.fetchone()
    return bool(row and row[0])


async def _latest(
    conn: psycopg.AsyncConnection[Any], qualified: str, keys: Sequence[str]
) -> list[tuple[Any, ...]]:
    if not await _exists(conn, qualified):
        return []
    schema, name = qualified.split(".")
    query = sql.SQL(
        "select {keys}, record from {table}"
        " where last_seen_at = (select max(last_seen_at) from {table})"
    ).format(
        keys=sql.SQL(", ").join(sql.Identifier(k) for k in keys),
        table=sql.Identifier(schema, name),
    )
    cur = await conn.execute(query)
    return list(await cur.fetchall())


async def load_listings(
    conn: psycopg.AsyncConnection[Any], exchanges: Sequence[Source] = EXCHANGES
) -> LoadedListings:
    """The newest listing of every exchange, CoinGecko's coin list and market-cap ranks."""
    listings: list[Listing] = []
    loaded: set[str] = set()
    problems: list[str] = []
    for source in exchanges:
        rules = source.exchange
        assert rules is not None, f"{source.name} is not an exchange"
        table = get_table(source.name, rules.listing)
        rows = await _latest(conn, table.qualified_name, table.key_names)
        if rows:
            loaded.add(f"{source.name}/{rules.listing}")
        for *key, record in rows:
            try:
                listings.append(rules.read_listing(tuple(key), record))
            except (ValueError, TypeError, AttributeError) as err:
                problems.append(f"{table.qualified_name} {key}: {err}")
    coins: list[Coin] = []
    rows = await _latest(conn, COINS_TABLE.qualified_name, COINS_TABLE.key_names)
    if rows:
        loaded.add("coingecko/coins_list")
    for *key, record in rows:
        try:
            coins.append(read_coin(tuple(key), record))
        except (ValueError, TypeError, AttributeError) as err:
            problems.append(f"{COINS_TABLE.qualified_name} {key}: {err}")
    ranks: dict[str, int] = {}
    if await _exists(conn, MARKETS_TABLE.qualified_name):
        cur = await conn.execute(
            "select distinct on (coin_id) coin_id, (record ->> 'market_cap_rank')::int"
            " from raw.coingecko__markets where vs_currency = 'usd'"
            " and record ->> 'market_cap_rank' ~ '^[0-9]+$'"
            " order by coin_id, last_updated_at desc"
        )
        ranks = {coin_id: rank for coin_id, rank in await cur.fetchall() if rank}
    if ranks:
        loaded.add(f"{MARKETS_TABLE.source}/{MARKETS_TABLE.endpoint}")
    return LoadedListings(listings, coins, ranks, frozenset(loaded), tuple(problems))


def resolve_loaded(settings: Settings, loaded: LoadedListings) -> Resolution:
    """Resolve the configured assets (``settings.assets``) against ``loaded``."""
    return resolve(
        parse_asset_requests(settings.assets),
        loaded.listings,
        loaded.coins,
        EXCHANGES,
        ranks=loaded.ranks,
        stablecoins=settings.stablecoins,
    )


def rows_of(resolution: Resolution, run_id: str, at: datetime) -> list[dict[str, Any]]:
    """The ``raw.asset_symbols`` rows of ``resolution``: every asset on every exchange."""
    rows = []
    for asset in resolution.assets:
        for source in resolution.exchanges:
            exchange = source.exchange
            assert exchange is not None, f"{source.name} is not an exchange"
            pair = asset.pairs.get(source.name)
            rows.append(
                {
                    "asset_id": asset.asset_id,
                    "exchange_id": source.name,
                    "exchange_symbol": pair.symbol if pair else None,
                    "response_symbol": pair.key if pair else None,
                    "quote_currency": exchange.quote_currency,
                    "listing_status": pair.status if pair else None,
                    "is_requested": asset.symbol(source.name) is not None,
                    "reason": asset.reason(source.name) or None,
                    "coingecko_id": asset.coingecko_id,
                    "asset_name": asset.name,
                    "is_stablecoin": asset.is_stablecoin,
                    "exchange_name": exchange.name,
                    "exchange_country_code": exchange.country_code,
                    "exchange_website_url": exchange.website_url,
                    "is_tracked": True,
                    "resolved_at": at,
                    "run_id": run_id,
                }
            )
    return rows


async def write_resolution(
    conn: psycopg.AsyncConnection[Any],
    resolution: Resolution,
    run_id: str,
    at: datetime,
    *,
    untrack_others: bool = True,
) -> None:
    """Store ``resolution`` in one transaction.

    Its rows replace those of the same asset and exchange; other assets' rows stay,
    marked ``is_tracked = false`` unless ``untrack_others`` is off (a run over a few
    assets named on the command line).
    """
    rows = rows_of(resolution, run_id, at)
    insert = sql.SQL(
        "insert into raw.asset_symbols ({cols}) values ({vals})"
        " on conflict (asset_id, exchange_id) do update set {updates}"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
        vals=sql.SQL(", ").join(sql.Placeholder(c) for c in COLUMNS),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c))
            for c in COLUMNS
            if c not in ("asset_id", "exchange_id")
        ),
    )
    async with conn.transaction():
        await ensure_table(conn)
        if untrack_others:
            await conn.execute(
                "update raw.asset_symbols set is_tracked = false"
                " where is_tracked and not (asset_id = any(%s))",
                [[a.asset_id for a in resolution.assets]],
            )
        async with conn.cursor() as cur:
            await cur.executemany(insert, rows)


async def read_symbols(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Every stored row, tracked assets first (what ``criptopipe symbols`` prints)."""
    await ensure_table(conn)
    cur = await conn.execute(
        sql.SQL(
            "select {} from raw.asset_symbols order by not is_tracked, asset_id, exchange_id"
        ).format(sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS))
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in await cur.fetchall()]
