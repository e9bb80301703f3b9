"""``dbt build`` on hand-made raw data: zero errors, then what the marts hold.

The raw tables are loaded from ``rawdata`` (the saved real responses plus a small
synthetic market up to the current hour), as the ``loader`` role, into a database of
this module's own; dbt runs as ``transformer``; the dashboard's ``reader`` role reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import rawdata
from dbt_helpers import DBT_PROJECT, DbtDatabase, DbtResult
from netutil import free_port


@pytest.fixture(scope="module")
def built(dbt_db: DbtDatabase) -> Iterator[DbtResult]:
    rawdata.load_all(dbt_db.loader_dsn, days=40)
    yield dbt_db.dbt("build")


@pytest.fixture(scope="module")
def docs(dbt_db: DbtDatabase, built: DbtResult) -> DbtResult:
    """``dbt docs generate`` after the build: manifest.json and catalog.json."""
    return dbt_db.dbt("docs", "generate")


def _rows(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def test_build_has_no_errors_and_ran_every_kind_of_node(built: DbtResult) -> None:
    assert built.not_passing() == []
    ids = [r["unique_id"] for r in built.run_results()]
    kinds = {i.split(".")[0] for i in ids}
    assert {"model", "test", "unit_test", "snapshot"} <= kinds
    assert "seed" not in kinds  # the mapping comes from the listings (raw.asset_symbols)
    assert sum(i.startswith("unit_test.") for i in ids) >= 9
    assert "test.criptopipe.assert_daily_returns_no_lookahead" in ids
    assert "test.criptopipe.assert_price_sources_agree" in ids
    assert "test.criptopipe.assert_price_sources_no_sustained_divergence" in ids
    assert "test.criptopipe.assert_fx_conversions_no_lookahead" in ids


def test_models_land_in_their_own_schemas(dbt_db: DbtDatabase, built: DbtResult) -> None:
    schemas = dict(
        _rows(
            dbt_db.transformer_dsn,
            """
        select table_name, table_schema from information_schema.tables
        where table_schema in ('staging', 'intermediate', 'marts', 'snapshots')
    """,
        )
    )
    assert schemas["stg_binance__klines"] == "staging"
    assert schemas["int_candles_unioned"] == "intermediate"
    assert schemas["fct_candles_hourly"] == "marts"
    assert schemas["snap_asset_metadata"] == "snapshots"
    assert schemas["stg_ingestion__asset_symbols"] == "staging"


def test_reader_role_reads_every_mart(dbt_db: DbtDatabase, built: DbtResult) -> None:
    marts = [
        r[0]
        for r in _rows(
            dbt_db.transformer_dsn,
            "select table_name from information_schema.tables where table_schema = 'marts'",
        )
    ]
    models = {p.stem for p in (DBT_PROJECT / "models" / "marts").rglob("*.sql")}
    # every mart model and dbt_run_results (the on-run-end hook's)
    assert sorted(marts) == sorted(models | {"dbt_run_results"})
    with psycopg.connect(dbt_db.reader_dsn) as conn:
        for mart in marts:
            conn.execute(f'select * from marts."{mart}" limit 1')


def test_prices_are_parsed_exactly_from_the_json_text(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    # binance/klines_1d.json: [1609459200000, "28923.63000000", …, "54182.92501100", …]
    [(open_price, volume, close_at)] = _rows(
        dbt_db.reader_dsn,
        """
        select open_price, volume, close_at from marts.fct_candles_daily
        where exchange_id = 'binance' and asset_id = 'BTC' and open_at = '2021-01-01T00:00Z'
    """,
    )
    assert str(open_price) == "28923.63000000"
    assert str(volume) == "54182.92501100"
    assert close_at == datetime(2021, 1, 2, tzinfo=UTC)
    # coinbase/candles_86400.json: [1669248000, low 1180.78, high 1217.2, open 1184.67, …]
    [(low, high, open_)] = _rows(
        dbt_db.reader_dsn,
        """
        select low_price, high_price, open_price from marts.fct_candles_daily
        where exchange_id = 'coinbase' and open_at = '2022-11-24T00:00Z'
    """,
    )
    assert (low, high, open_) == (Decimal("1180.78"), Decimal("1217.2"), Decimal("1184.67"))


def test_kraken_xbt_is_btc(dbt_db: DbtDatabase, built: DbtResult) -> None:
    # kraken/ohlc_60.json answers with the result key XXBTZUSD
    [(count, quote)] = _rows(
        dbt_db.reader_dsn,
        """
        select count(*), min(quote_currency) from marts.fct_candles_hourly
        where exchange_id = 'kraken' and asset_id = 'BTC'
          and open_at between '2023-12-05T13:00Z' and '2023-12-05T22:00Z'
    """,
    )
    assert (count, quote) == (10, "USD")


def test_dim_exchanges_covers_every_candle_loaded(dbt_db: DbtDatabase, built: DbtResult) -> None:
    # read from the per-series coverage, not by scanning the candles: the same span
    coverage = _rows(
        dbt_db.transformer_dsn,
        "select exchange_id, first_candle_at, last_candle_at, asset_count > 0,"
        " listed_pair_count >= trading_pair_count and trading_pair_count > 0"
        " from marts.dim_exchanges order by exchange_id",
    )
    scanned = _rows(
        dbt_db.transformer_dsn,
        "select exchange_id, min(open_at), max(open_at), true, true"
        " from intermediate.int_candles_unioned group by exchange_id order by exchange_id",
    )
    assert coverage == scanned
    assert [row[0] for row in coverage] == ["binance", "coinbase", "kraken", "mercadobitcoin"]


def test_open_candle_is_flagged_and_closed_ones_are_final(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    rows = _rows(
        dbt_db.reader_dsn,
        """
        select is_closed, count(*) from marts.fct_candles_hourly
        where open_at >= date_trunc('hour', now()) - interval '3 hours'
        group by is_closed
    """,
    )
    flags = dict(rows)
    assert flags[False] > 0 and flags[True] > 0


def test_fx_rate_is_carried_over_weekends_and_never_back(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    rows = _rows(
        dbt_db.reader_dsn,
        """
        select rate_date, rate, published_rate_date, is_carried_forward
        from marts.fct_fx_rates_daily where quote_currency = 'BRL' order by rate_date
    """,
    )
    first_published = min(r[2] for r in rows)
    assert rows[0][0] == first_published  # nothing before the first published rate
    for rate_date, _, published, carried in rows:
        assert published <= rate_date
        assert carried == (published != rate_date)
        if rate_date.weekday() >= 5:
            assert carried


def test_brazil_premium_uses_the_rate_in_force_at_the_close(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    rows = _rows(
        dbt_db.reader_dsn,
        """
        select p.open_at, p.premium_pct, p.close_price_brl, p.consensus_close_price_usd,
               p.usd_brl_rate, p.fx_rate_date, p.fx_rate_available_at, f.rate
        from marts.fct_brazil_premium as p
        inner join marts.fct_fx_rates_hourly as f
            on f.rate_at = p.open_at + interval '1 hour' and f.quote_currency = 'BRL'
    """,
    )
    assert rows
    for open_at, premium, brl, usd, rate, rate_date, available_at, as_of_rate in rows:
        close_at = open_at + timedelta(hours=1)
        assert rate == as_of_rate and available_at <= close_at
        # the ECB rate of a day is published at 16:00 CET/CEST: before that, the day's
        # hours use an earlier business day's rate
        assert rate_date <= close_at.date()
        if rate_date == close_at.date():
            assert close_at.hour >= 14
        expected = (brl / (usd * rate) - 1) * 100
        assert abs(premium - expected) < Decimal("0.000001")
    mornings = [r for r in rows if r[0].weekday() < 5 and r[0].hour < 13]
    assert mornings and all(r[5] < r[0].date() for r in mornings)
    # the synthetic Mercado Bitcoin market trades about 1 % over the world price
    assert 0 < sum(r[1] for r in rows) / len(rows) < 3


def test_fx_lookahead_test_fails_on_a_rate_taken_too_early(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    # One hourly rate and one premium hour before the cutoff (10:00 UTC on the newest
    # rate's day, before its publication, or its fetch if that came first: rawdata loads
    # today's rate at now even before 15:00) converted at that newest rate, as a
    # conversion that took a day's rate for the whole day would: the singular test must
    # flag both. The rows are put back afterwards for the module's other tests.
    cutoff = (
        "(select least((rate_date + time '10:00') at time zone 'utc', available_at)"
        " from raw_rates order by rate_date desc limit 1)"
    )
    raw_rates = (
        "with raw_rates as (select * from staging.stg_fx__rates where base_currency = 'USD')"
    )
    newest = f"{raw_rates} select rate, rate_date from raw_rates order by rate_date desc limit 1"
    with psycopg.connect(dbt_db.transformer_dsn) as conn:
        newest_rate, newest_date = conn.execute(newest).fetchone() or (None, None)
        [(rate_at, rate, rate_date)] = conn.execute(
            f"{raw_rates} select rate_at, rate, published_rate_date"
            " from intermediate.int_fx_rates_hourly"
            f" where quote_currency = 'BRL' and rate_at <= {cutoff}"
            " order by rate_at desc limit 1"
        ).fetchall()
        [(asset_id, open_at, premium_rate, premium_pct)] = conn.execute(
            f"{raw_rates} select asset_id, open_at, usd_brl_rate, premium_pct"
            " from marts.fct_brazil_premium"
            f" where open_at + interval '1 hour' <= {cutoff}"
            " order by open_at desc, asset_id limit 1"
        ).fetchall()
        assert rate_date < newest_date and premium_rate != newest_rate
        conn.execute(
            "update intermediate.int_fx_rates_hourly set rate = %s, published_rate_date = %s"
            " where quote_currency = 'BRL' and rate_at = %s",
            [newest_rate, newest_date, rate_at],
        )
        conn.execute(
            "update marts.fct_brazil_premium set usd_brl_rate = %(rate)s, premium_pct"
            " = round((close_price_brl / (consensus_close_price_usd * %(rate)s) - 1) * 100, 6)"
            " where asset_id = %(asset)s and open_at = %(at)s",
            {"rate": newest_rate, "asset": asset_id, "at": open_at},
        )
    try:
        result = dbt_db.dbt("test", "--select", "assert_fx_conversions_no_lookahead", check=False)
    finally:
        with psycopg.connect(dbt_db.transformer_dsn) as conn:
            conn.execute(
                "update intermediate.int_fx_rates_hourly"
                " set rate = %s, published_rate_date = %s"
                " where quote_currency = 'BRL' and rate_at = %s",
                [rate, rate_date, rate_at],
            )
            conn.execute(
                "update marts.fct_brazil_premium set usd_brl_rate = %s, premium_pct = %s"
                " where asset_id = %s and open_at = %s",
                [premium_rate, premium_pct, asset_id, open_at],
            )
    failing = result.not_passing()
    assert len(failing) == 1 and "Got 2 results" in failing[0], failing


def test_no_spread_premium_or_consensus_from_open_candles(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    [(open_hours, spreads, premiums, consensus, today)] = _rows(
        dbt_db.reader_dsn,
        """
        with open_candles as (
            select asset_id, open_at from marts.fct_candles_hourly where not is_closed
        )
        select
            (select count(*) from open_candles),
            (select count(*) from marts.fct_cross_exchange_spreads as s
             inner join open_candles as o using (asset_id, open_at)),
            (select count(*) from marts.fct_brazil_premium as p
             inner join open_candles as o using (asset_id, open_at)),
            (select count(*) from marts.fct_price_consensus as c
             inner join open_candles as o using (asset_id, open_at)
             where c.interval = '1h'),
            (select count(*) from marts.fct_daily_returns
             where price_date >= (select max(open_at)::date from marts.fct_candles_daily
                                  where not is_closed))
    """,
    )
    assert open_hours > 0
    assert (spreads, premiums, consensus, today) == (0, 0, 0, 0)


def _daily_spreads_from_hourly(dsn: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The hourly spreads aggregated per asset, exchange and UTC day here, in Python: the
    last hour's open, quote, close and consensus, the largest deviation (by size), divergent
    if any hour was, the widest spread, the lowest and highest close, exchange and hour count."""
    with psycopg.connect(dsn) as conn:
        hours = conn.execute(
            "select asset_id, exchange_id, open_at, quote_currency, close_price,"
            " consensus_close_price_usd, deviation_bps, is_divergent, spread_bps,"
            " min_close_price_usd, max_close_price_usd, exchange_count"
            " from marts.fct_cross_exchange_spreads order by open_at"
        ).fetchall()
    days: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for hour in hours:
        days.setdefault((hour[0], hour[1], hour[2].astimezone(UTC).date()), []).append(hour)
    expected = {}
    for key, rows in days.items():
        last = rows[-1]
        largest = max(reversed(rows), key=lambda r: abs(r[6]))
        expected[key] = (
            last[2],
            last[3],
            last[4],
            last[5],
            largest[6],
            any(r[7] for r in rows),
            max(r[8] for r in rows),
            min(r[9] for r in rows),
            max(r[10] for r in rows),
            max(r[11] for r in rows),
            len(rows),
        )
    return expected


def _daily_spreads(dsn: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select asset_id, exchange_id, price_date, open_at, quote_currency, close_price,"
            " consensus_close_price_usd, deviation_bps, is_divergent, spread_bps,"
            " min_close_price_usd, max_close_price_usd, exchange_count, hour_count"
            " from marts.fct_cross_exchange_spreads_daily"
        ).fetchall()
    return {tuple(r[:3]): tuple(r[3:]) for r in rows}


def test_daily_spreads_are_the_aggregate_of_the_hourly_spreads(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    """fct_cross_exchange_spreads_daily (what the Cross-exchange page reads over long ranges)
    is the hourly mart aggregated per asset, exchange and UTC day, recomputed here."""
    daily = _daily_spreads(dbt_db.reader_dsn)
    assert len(daily) > 20
    assert daily == _daily_spreads_from_hourly(dbt_db.reader_dsn)


def test_daily_returns_volatility_and_correlations(dbt_db: DbtDatabase, built: DbtResult) -> None:
    [(days, vol7, vol30, drawdown_max)] = _rows(
        dbt_db.reader_dsn,
        """
        select count(*), count(volatility_7d), count(volatility_30d), max(drawdown)
        from marts.fct_daily_returns where asset_id = 'BTC'
          and price_date >= current_date - 45
    """,
    )
    assert days >= 39 and vol7 >= days - 7 and vol30 >= days - 30 > 0
    assert drawdown_max == 0
    [(pairs, with_value)] = _rows(
        dbt_db.reader_dsn,
        """
        select count(distinct (asset_id, other_asset_id)), count(correlation_30d)
        from marts.fct_asset_correlations
    """,
    )
    assert pairs == 5 * 4 and with_value > 0


def test_pipeline_health_covers_every_endpoint(dbt_db: DbtDatabase, built: DbtResult) -> None:
    rows = _rows(
        dbt_db.reader_dsn,
        """
        select source_name, endpoint_name, freshness_status, last_run_status,
               quarantined_count, freshness_warn_after
        from marts.fct_pipeline_health
    """,
    )
    assert len(rows) == 17
    assert {r[2] for r in rows} == {"fresh"}
    by_key = {(r[0], r[1]): r for r in rows}
    assert by_key[("kraken", "ohlc")][3] == "success"  # the newest run, after a failed one
    assert by_key[("coingecko", "markets")][4] == 2
    assert by_key[("fx", "rates")][5] == timedelta(days=4)
    reasons = _rows(
        dbt_db.reader_dsn,
        """
        select quarantine_reason, unparsed_body_count from marts.fct_quarantine_reasons
        where source_name = 'coingecko' and endpoint_name = 'markets' order by 1
    """,
    )
    assert reasons == [("body is not JSON", 1), ("non-numeric price", 0)]


def test_source_freshness_runs(dbt_db: DbtDatabase, built: DbtResult) -> None:
    result = dbt_db.dbt("source", "freshness")
    sources = json.loads((result.target_path / "sources.json").read_text())["results"]
    statuses = {r["unique_id"].split(".", 2)[2]: r["status"] for r in sources}
    # every raw table and the run log; quarantine has no freshness (no rows is good news)
    assert len(statuses) == 18 and "ingestion.quarantine" not in statuses
    assert set(statuses.values()) == {"pass"}, statuses


def test_docs_generate_and_serve(dbt_db: DbtDatabase, docs: DbtResult) -> None:
    catalog = json.loads((docs.target_path / "catalog.json").read_text())
    assert "model.criptopipe.fct_candles_hourly" in catalog["nodes"]
    port = free_port()
    server = dbt_db.popen(
        "docs", "serve", "--port", str(port), "--host", "127.0.0.1", "--no-browser"
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/index.html", timeout=2
                ) as response:
                    body = response.read().decode()
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read() if server.stdout else ""
                    raise AssertionError(f"dbt docs serve did not answer:\n{output}") from None
                time.sleep(0.3)
        assert response.status == 200
        assert "dbt" in body.lower()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # seen under load: the server outlived SIGTERM
            server.kill()
            server.wait(timeout=10)


def test_every_model_and_column_is_documented(docs: DbtResult) -> None:
    target = docs.target_path
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    missing: list[str] = []
    for unique_id, node in {**manifest["nodes"], **manifest["sources"]}.items():
        if node["resource_type"] not in ("model", "snapshot", "seed", "source"):
            continue
        if not node.get("description", "").strip():
            missing.append(unique_id)
        documented = {
            name for name, col in node["columns"].items() if col.get("description", "").strip()
        }
        built_columns = (
            catalog["nodes"].get(unique_id) or catalog["sources"].get(unique_id) or {"columns": {}}
        )["columns"]
        missing += [f"{unique_id}.{c}" for c in built_columns if c not in documented]
    assert missing == []


# `make lint` (which CI runs before `make test`) lints every model, against the warehouse
# of `criptopipe dbt-env`: on a fresh clone one where no model was built yet, so each
# incremental model's `is_incremental()` branch never compiles there.
INCREMENTAL = re.compile(r"materialized\s*=\s*['\"]incremental['\"]")


def _incremental_models() -> list[Path]:
    models = DBT_PROJECT / "models"
    return sorted(p for p in models.rglob("*.sql") if INCREMENTAL.search(p.read_text()))


def test_sqlfluff_lint_passes_on_the_incremental_branches(
    dbt_db: DbtDatabase, built: DbtResult
) -> None:
    # The dbt templater compiles the models against this module's built warehouse, where
    # the incremental models' tables exist: their incremental SQL is what gets linted.
    # Only those models: `make lint` lints all of them (here all took 124 s, these 27 s).
    models = _incremental_models()
    assert len(models) >= 4, models  # the candle marts and their coverage
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    paths = [str(m.relative_to(DBT_PROJECT.parent)) for m in models]
    done = subprocess.run(  # fixed argv, no shell
        [str(sqlfluff), "lint", *paths, "--format", "json", "--nocolor"],
        cwd=DBT_PROJECT.parent,
        env=dbt_db.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    linted = json.loads(done.stdout)
    assert sorted(f["filepath"] for f in linted) == paths
    assert [f["violations"] for f in linted] == [[] for _ in paths]
