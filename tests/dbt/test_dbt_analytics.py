"""Analytics on a simulated market with injected divergences: simulator → ingestion → dbt.

The simulator's clock is the wall clock (the loader's ``last_seen_at``, which decides
``is_closed``, is too), so the current hour's candles are open. Its sources are pushed off
the market (``PriceDivergence``):

* within the open hour, Kraken 800 bps dear and Coinbase 600 bps cheap on every asset:
  no spread, deviation, consensus, return or premium may be computed from those candles;
* Kraken's BTC 500 bps dear for five closed hours (16 to 11 hours before the open one): a
  sustained divergence, so the error-severity reconciliation test fails (dbt build exits
  non-zero, and the Dagster check is blocking);
* Coinbase's BTC 400 bps dear for one closed hour (6 hours before) and CoinGecko's ETH
  300 bps cheap at one point (the last midnight at least two hours back): blips, which
  only warn.

Any hour of the day must do (the suite runs at any time): before 11:00 the sustained
hours lie in yesterday's closed daily candles, which the simulator rolls up from the
diverged hours as the exchange's own would be.

The FX rates are those the simulator publishes at 15:00 UTC (16:00 CET) on ECB business
days. The last test truncates the raw FX history at an instant, rebuilds, and requires
every converted value up to that instant to be unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import simulated
from dbt_helpers import DbtDatabase, DbtResult

from ingestion.simulator import PriceDivergence
from ingestion.simulator.market import ecb_publication_at, latest_fixing


def _clock() -> datetime:
    """Now, but never in the last two minutes of an hour: ingestion takes seconds, and an
    open candle loaded after its hour ended would read as closed."""
    now = datetime.now(UTC)
    if now.minute >= 58:
        time.sleep(60 * (60 - now.minute) - now.second + 5)
        now = datetime.now(UTC)
    return now.replace(microsecond=0)


NOW = _clock()
OPEN_HOUR = NOW.replace(minute=0, second=0)
ASSETS = ("BTC", "ETH")
HOUR = timedelta(hours=1)
# The last midnight at least two hours back: in the first minute of a day CoinGecko's
# point at now would share the blip's minute, and in the first hour its hour is open.
MIDNIGHT = (OPEN_HOUR - 2 * HOUR).replace(hour=0)
SUSTAINED_START = OPEN_HOUR - 16 * HOUR
BLIP_HOUR = OPEN_HOUR - 6 * HOUR
DIVERGENCES = (
    PriceDivergence("kraken", OPEN_HOUR, OPEN_HOUR + HOUR, 800.0),
    PriceDivergence("coinbase", OPEN_HOUR, OPEN_HOUR + HOUR, -600.0),
    PriceDivergence("kraken", SUSTAINED_START, SUSTAINED_START + 5 * HOUR, 500.0, asset="BTC"),
    PriceDivergence("coinbase", BLIP_HOUR, BLIP_HOUR + HOUR, 400.0, asset="BTC"),
    PriceDivergence("coingecko", MIDNIGHT, MIDNIGHT + timedelta(minutes=1), -300.0, asset="ETH"),
)
VARS = f"{{fx_calendar_end_date: '{NOW.date()}', current_date_utc: '{NOW.date()}'}}"
SUSTAINED = "test.criptopipe.assert_price_sources_no_sustained_divergence"
BLIPS = "test.criptopipe.assert_price_sources_agree"


@pytest.fixture(scope="module")
def build(dbt_db: DbtDatabase) -> Iterator[DbtResult]:
    summary = simulated.ingest(dbt_db, days=2, assets=ASSETS, now=NOW, divergences=DIVERGENCES)
    assert not summary.failed, summary.failed
    try:
        yield dbt_db.dbt("build", "--vars", VARS, check=False)
    finally:
        simulated.drop_lake(dbt_db)


def _rows(db: DbtDatabase, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.reader_dsn) as conn:
        return conn.execute(query, params).fetchall()


def _results(result: DbtResult) -> dict[str, dict[str, Any]]:
    return {r["unique_id"]: r for r in result.run_results()}


def test_only_the_sustained_divergence_fails_the_build(build: DbtResult) -> None:
    results = _results(build)
    assert build.returncode != 0
    assert results[SUSTAINED]["status"] == "fail"
    assert results[SUSTAINED]["failures"] == 2  # streaks 4 and 5 of Kraken's BTC
    assert results[BLIPS]["status"] == "warn"
    assert results[BLIPS]["failures"] == 5 + 1 + 1
    others = [
        uid
        for uid, r in results.items()
        if uid != SUSTAINED
        and not uid.startswith("exposure.")
        and r["status"] not in ("pass", "success", "warn")
    ]
    assert others == []


def test_reconciliation_flags_streaks_and_coingecko(dbt_db: DbtDatabase, build: DbtResult) -> None:
    divergent = _rows(
        dbt_db,
        """
        select asset_id, price_source, observed_at, divergent_streak, is_sustained_divergence
        from marts.fct_price_reconciliation where is_divergent
        order by price_source, observed_at
    """,
    )
    kraken = [r for r in divergent if r[1] == "kraken"]
    assert [r[3] for r in kraken] == [1, 2, 3, 4, 5]
    assert [r[4] for r in kraken] == [False, False, False, True, True]
    assert {r[0] for r in kraken} == {"BTC"}
    assert kraken[0][2] == SUSTAINED_START + HOUR  # the first diverged candle's close
    assert [r[:4] for r in divergent if r[1] != "kraken"] == [
        ("BTC", "coinbase", BLIP_HOUR + HOUR, 1),
        ("ETH", "coingecko", MIDNIGHT, 1),
    ]
    [(coingecko_points,)] = _rows(
        dbt_db,
        """
        select count(*) from marts.fct_price_reconciliation where price_source = 'coingecko'
    """,
    )
    assert coingecko_points >= 2 * len(ASSETS)  # midnight points of both assets


def test_a_longer_allowance_turns_the_streak_into_a_warning(
    dbt_db: DbtDatabase, build: DbtResult
) -> None:
    result = dbt_db.dbt(
        "test",
        "--select",
        "fct_price_reconciliation",
        "--vars",
        VARS.replace("}", ", divergence_sustained_candles: 5}"),
        check=False,
    )
    results = _results(result)
    assert results[SUSTAINED]["status"] == "pass"
    assert results[BLIPS]["status"] == "warn"
    assert result.returncode == 0


def test_the_sustained_check_is_blocking_in_dagster(dbt_db: DbtDatabase, build: DbtResult) -> None:
    from orchestration.dbt_assets import build_dbt_assets

    manifest = build.target_path / "manifest.json"
    assert json.loads(manifest.read_text())["nodes"][SUSTAINED]
    specs = {spec.name: spec for asset in build_dbt_assets(manifest) for spec in asset.check_specs}
    assert specs["assert_price_sources_no_sustained_divergence"].blocking
    assert specs["assert_price_sources_no_sustained_divergence"].asset_key.path[-1] == (
        "fct_price_reconciliation"
    )
    assert not specs["assert_price_sources_agree"].blocking


def test_open_hour_takes_no_part_in_spreads_consensus_returns_or_premium(
    dbt_db: DbtDatabase, build: DbtResult
) -> None:
    [(open_candles, divergent_open)] = _rows(
        dbt_db,
        """
        select count(*), count(*) filter (
            where abs(c.close_price / b.close_price - 1) > 0.05)
        from marts.fct_candles_hourly as c
        inner join marts.fct_candles_hourly as b
            on b.asset_id = c.asset_id and b.open_at = c.open_at
            and b.exchange_id = 'binance'
        where c.open_at = %(hour)s and not c.is_closed
          and c.exchange_id in ('kraken', 'coinbase')
    """,
        {"hour": OPEN_HOUR},
    )
    assert open_candles == 2 * len(ASSETS) and divergent_open == open_candles  # loaded, flagged
    [(spreads, consensus, premium, returns, newest_spread)] = _rows(
        dbt_db,
        """
        select
            (select count(*) from marts.fct_cross_exchange_spreads where open_at >= %(hour)s),
            (select count(*) from marts.fct_price_consensus where open_at >= %(hour)s
                and interval = '1h'),
            (select count(*) from marts.fct_brazil_premium where open_at >= %(hour)s),
            (select count(*) from marts.fct_daily_returns where price_date >= %(day)s),
            (select max(open_at) from marts.fct_cross_exchange_spreads)
    """,
        {"hour": OPEN_HOUR, "day": OPEN_HOUR.date()},
    )
    assert (spreads, consensus, premium, returns) == (0, 0, 0, 0)
    assert newest_spread == OPEN_HOUR - timedelta(hours=1)
    # away from the injected closed divergences, the exchanges agree within a few bps
    [(calm_max_spread,)] = _rows(
        dbt_db,
        """
        select max(spread_bps) from marts.fct_cross_exchange_spreads
        where not (asset_id = 'BTC' and open_at between %(first)s and %(last)s)
    """,
        {"first": SUSTAINED_START, "last": BLIP_HOUR},
    )
    assert 0 < calm_max_spread < 50


def _last_publication_before(instant: datetime) -> date:
    """The newest simulated ECB fixing (16:00 CET/CEST on business days) at ``instant``."""
    return latest_fixing(instant)


def test_premium_converts_at_the_rate_published_before_the_close(
    dbt_db: DbtDatabase, build: DbtResult
) -> None:
    rows = _rows(
        dbt_db,
        """
        select open_at, fx_rate_date, fx_rate_available_at from marts.fct_brazil_premium
        order by open_at
    """,
    )
    assert len(rows) >= 24
    for open_at, rate_date, available_at in rows:
        close_at = open_at + timedelta(hours=1)
        assert rate_date == _last_publication_before(close_at), open_at
        assert available_at == ecb_publication_at(rate_date)


def _converted(db: DbtDatabase, until: datetime) -> dict[str, list[tuple[Any, ...]]]:
    params = {"until": until}
    return {
        "fx_rates_hourly": _rows(
            db,
            """
            select quote_currency, rate_at, rate, published_rate_date
            from marts.fct_fx_rates_hourly where rate_at <= %(until)s order by 1, 2
        """,
            params,
        ),
        "fx_rates_daily": _rows(
            db,
            """
            select quote_currency, rate_date, rate from marts.fct_fx_rates_daily
            where rate_date + 1 <= %(until)s order by 1, 2
        """,
            params,
        ),
        "brazil_premium": _rows(
            db,
            """
            select asset_id, open_at, usd_brl_rate, consensus_close_price_brl, premium_pct
            from marts.fct_brazil_premium
            where open_at + interval '1 hour' <= %(until)s order by 1, 2
        """,
            params,
        ),
    }


def test_truncating_fx_history_changes_nothing_before_the_cut(
    dbt_db: DbtDatabase, build: DbtResult
) -> None:
    # Runs last in the module: it deletes raw FX rates. The cut lies four hours before
    # the newest fixing published by now (16:00 CET/CEST).
    cut = ecb_publication_at(_last_publication_before(NOW)) - timedelta(hours=4)
    before = _converted(dbt_db, cut)
    after_cut = _converted(dbt_db, NOW)
    with psycopg.connect(dbt_db.loader_dsn) as conn:
        deleted = conn.execute(
            "delete from raw.fx__rates"
            " where (rate_date + time '16:00') at time zone 'Europe/Berlin' > %(cut)s",
            {"cut": cut},
        ).rowcount
    assert deleted > 0
    dbt_db.dbt(
        "run",
        "--select",
        "stg_fx__rates+",
        "--exclude",
        "config.materialized:incremental",
        "--vars",
        VARS,
    )
    assert _converted(dbt_db, cut) == before
    assert all(before.values())
    # ... while the hours after it now carry the older rate: the cut did remove a rate
    assert _converted(dbt_db, NOW)["brazil_premium"] != after_cut["brazil_premium"]
