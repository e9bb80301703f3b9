"""dbt build wall time on a small and a 10x dataset, and an incremental run after one hour.

The raw data is the hand-made market of ``tests/dbt/rawdata.py`` (the saved real
responses plus synthetic candles on the four exchanges, snapshots, FX, Fear & Greed), loaded
as the ``loader`` role. The 10x dataset has ten times the days (so ten times the candles,
rates and index values). Then one more hour arrives the way the loader writes it (the
open hour closes, a new open hour appears, the day's candle is updated) and ``dbt build``
runs again, incrementally.

    uv run python benchmarks/bench_dbt.py [--days 40] [--factor 10] [--threads 4]

Also prints the slowest nodes of the 10x build (``run_results.json``), where to look first
when a build slows down. Uses its own database (``criptopipe_bench_dbt``), dropped and
recreated. Prints figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dbt"))

import rawdata
from dbt_helpers import DbtDatabase, create_database, drop_database

from ingestion.services import Services
from ingestion.settings import load_settings

DATABASE = "criptopipe_bench_dbt"


def raw_rows(db: DbtDatabase) -> int:
    with psycopg.connect(db.loader_dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'raw'"
            ).fetchall()
        ]
        return sum(
            conn.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier("raw", t))
            ).fetchone()[0]  # type: ignore[index]
            for t in tables
        )


def add_one_hour(db: DbtDatabase, now: datetime) -> int:
    """The next loader run, an hour later: close the open hourly candles, open new ones,
    update today's daily candle. Returns the candle rows written."""
    open_hour = now.replace(minute=0, second=0, microsecond=0)
    later = now + timedelta(hours=1)
    new_hour = open_hour + timedelta(hours=1)
    batch = rawdata.RawBatch()
    with psycopg.connect(db.loader_dsn) as conn:
        for exchange, table in rawdata.CANDLE_TABLES.items():
            key = rawdata.get_table(*table.split("__", 1)).key_names[0]
            rows = conn.execute(
                sql.SQL(
                    "select {key}, record from raw.{t} where interval = '1h' and open_time = %s"
                ).format(key=sql.Identifier(key), t=sql.Identifier(table)),
                [open_hour],
            ).fetchall()
            for symbol, record in rows:
                # the open candle is seen again after its close (values final, unchanged)
                close = Decimal(str(record["c"] if exchange == "mercadobitcoin" else record[4]))
                price = float(close)
                candle = rawdata.Candle(
                    new_hour, price, price * 1.001, price * 0.999, price * 1.0004, 3.0
                )
                batch.rows.append(
                    rawdata.RawRow(
                        table, (symbol, "1h", open_hour), record, now, last_seen_at=later
                    )
                )
                batch.rows.append(
                    rawdata.RawRow(
                        table,
                        (symbol, "1h", new_hour),
                        rawdata.candle_record(exchange, candle, "1h"),
                        later,
                    )
                )
            conn.execute(
                sql.SQL(
                    "update raw.{t} set last_seen_at = %s where interval = '1d' and open_time = %s"
                ).format(t=sql.Identifier(table)),
                [later, open_hour.replace(hour=0)],
            )
    rawdata.upsert(db.loader_dsn, batch)
    return len(batch.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    settings = load_settings()
    services = Services(settings)
    services.up()
    work = Path(tempfile.mkdtemp(prefix="bench_dbt_"))
    db = create_database(
        services.postgres_admin_dsn(), services.mongo_uri(), DATABASE, settings, work
    )
    figures: list[tuple[str, int, float]] = []
    slowest: list[tuple[str, float]] = []
    try:
        rawdata.create_raw_tables(db.loader_dsn)
        db.dbt("parse")  # parse once, so every figure below is the build itself
        for label, days in (("small", args.days), (f"{args.factor}x", args.days * args.factor)):
            now = datetime.now(UTC)
            rawdata.load_all(db.loader_dsn, days=days, now=now)
            rows = raw_rows(db)
            build = db.dbt("build", "--full-refresh", "--threads", str(args.threads))
            assert not build.not_passing(), build.not_passing()
            figures.append((f"dbt build, {label} dataset ({days} days)", rows, build.seconds))
        slowest = sorted(
            ((r["unique_id"], float(r["execution_time"])) for r in build.run_results()),
            key=lambda node: -node[1],
        )[:8]
        written = add_one_hour(db, now)
        incremental = db.dbt("build", "--threads", str(args.threads))
        assert not incremental.not_passing(), incremental.not_passing()
        figures.append(
            ("dbt build after one new hour (incremental candles)", written, incremental.seconds)
        )
        candles_only = db.dbt(
            "run",
            "--threads",
            str(args.threads),
            "--select",
            "fct_candles_hourly",
            "fct_candles_daily",
        )
        figures.append(
            ("dbt run of the two incremental candle marts alone", written, candles_only.seconds)
        )
    finally:
        drop_database(db)
    print(f"{'what':<55} {'rows':>10} {'seconds':>9}")
    for what, rows, seconds in figures:
        print(f"{what:<55} {rows:>10} {seconds:>9.1f}")
    print("rows: raw rows loaded (builds) or candle rows the new hour wrote (incremental);")
    print("seconds: wall time of the dbt process, start-up and manifest load included")
    print(f"slowest nodes of the {args.factor}x build (run_results.json execution_time):")
    for unique_id, seconds in slowest:
        print(f"  {seconds:7.2f}  {unique_id}")


if __name__ == "__main__":
    main()
