"""Every page against marts built by the real pipeline (simulator → ingestion → dbt)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pipeline import Warehouse
from streamlit.testing.v1 import AppTest

PAGES = ["market_overview", "asset", "cross_exchange", "risk", "data_health"]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_charts_with_as_of(
    page: str,
    on_demo_warehouse: Warehouse,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    at = open_page(page)
    assert not at.exception, at.exception
    text = page_text(at)
    assert "No data yet" not in text
    assert "No " not in "\n".join(str(i.value) for i in at.info), text  # no empty section
    charts = at.get("plotly_chart")
    assert charts, text
    assert text.count("as of") >= len(charts), "every chart says how fresh its data is"


def test_market_overview_kpis(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("market_overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Total market cap"].startswith("$")
    assert metrics["Total market cap"][-1] in "TBM"
    assert 0 < float(metrics["BTC dominance"].rstrip("%")) < 100
    assert 0 <= float(metrics["Fear & Greed"]) <= 100
    history = [c for c in at.get("plotly_chart") if "tracked assets, daily" in c.proto.spec]
    assert history, "the daily market-cap history chart is shown"
    movers = at.dataframe[0].value
    assert set(movers["asset_id"]) == {"BTC", "ETH", "SOL"}  # the default asset filter
    assert movers["change_pct"].is_monotonic_decreasing


def test_every_table_has_a_csv_download(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    for page in PAGES:
        at = open_page(page)
        assert len(at.get("download_button")) >= len(at.dataframe), page


def test_sidebar_filters_persist_across_pages(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("risk")
    at.multiselect(key="_filter.assets").set_value(["ETH", "XRP"]).run()
    assert not at.exception
    at.switch_page("app_pages/cross_exchange.py").run()
    assert at.multiselect(key="_filter.assets").value == ["ETH", "XRP"]
    spreads_table = at.dataframe[0].value
    assert set(spreads_table["asset_id"]) == {"ETH", "XRP"}


def test_asset_page_switches_currency_at_the_point_in_time_rate(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("asset")
    usd = at.dataframe[0].value
    currencies = at.segmented_control(key="_filter.currency").options
    assert currencies[0] == "USD" and {"BRL", "EUR"} <= set(currencies)
    at.segmented_control(key="_filter.currency").set_value("BRL").run()
    assert not at.exception
    brl = at.dataframe[0].value
    assert len(brl) == len(usd) > 0
    ratio = (brl["close_price"] / usd["close_price"]).round(6)
    # every candle is converted at the USD→BRL rate in force at its own close
    assert (ratio == brl["fx_factor"].astype(float).round(6)).all()
    assert 3 < ratio.min() < ratio.max() < 8
    rates = on_demo_warehouse.rates("BRL")
    expected = brl["close_at"].map(lambda t: rates[t.floor("h")])
    assert (ratio == expected.round(6)).all()
    at.segmented_control(key="_filter.currency").set_value("EUR").run()
    eur = at.dataframe[0].value
    assert 0.5 < (eur["close_price"] / usd["close_price"]).max() < 1.5


@pytest.mark.parametrize("page", ["market_overview", "cross_exchange", "risk"])
def test_every_page_with_prices_has_the_currency_selector(
    page: str, on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(page)
    control = at.segmented_control(key="_filter.currency")
    control.set_value("EUR").run()
    assert not at.exception
    assert "EUR" in "\n".join(str(c.value) for c in at.caption) + str([m.value for m in at.metric])


def test_top_movers_read_the_consensus_price_of_closed_hours(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("market_overview")
    movers = at.dataframe[0].value
    consensus = on_demo_warehouse.query("""
        select asset_id, consensus_close_price_usd, close_at from marts.fct_price_consensus
        where interval = '1h' and (asset_id, open_at) in (
            select asset_id, max(open_at) from marts.fct_price_consensus
            where interval = '1h' group by asset_id)
    """)
    by_asset = {row[0]: (float(row[1]), row[2]) for row in consensus}
    for row in movers.itertuples():
        price, closed_at = by_asset[row.asset_id]
        assert row.close_price_usd == pytest.approx(price)
        assert closed_at <= on_demo_warehouse.built_at  # a closed hour, never the open one


def test_asset_page_exchange_and_interval(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("asset")
    exchange = at.selectbox(key="asset.exchange_id")
    assert "mercadobitcoin" in exchange.options
    exchange.set_value("mercadobitcoin").run()
    at.segmented_control(key="asset.interval").set_value("1h").run()
    assert not at.exception
    candles = at.dataframe[0].value
    assert set(candles["quote_currency"]) == {"BRL"}
    gaps = candles["open_at"].diff().dropna()
    assert (gaps == gaps.min()).mean() > 0.9 and gaps.min().total_seconds() == 3600


def test_asset_page_shows_the_pandas_indicators_of_the_chosen_candles(
    on_demo_warehouse: Warehouse,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    at = open_page("asset")
    at.segmented_control(key="asset.interval").set_value("1h").run()
    assert not at.exception
    figure = next(c for c in at.get("plotly_chart") if "RSI (14)" in c.proto.spec)
    assert "Bollinger" in figure.proto.spec and "MACD" in figure.proto.spec
    assert "Wilder RSI(14)" in page_text(at)


def test_risk_page_shows_ewma_volatility(
    on_demo_warehouse: Warehouse, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("risk")
    assert not at.exception
    assert any("EWMA volatility (RiskMetrics" in c.proto.spec for c in at.get("plotly_chart"))


def test_ewma_volatility_leaves_out_the_open_day(on_demo_warehouse: Warehouse) -> None:
    """The open 1d candle's close is not a price yet: the Risk page never plots it."""
    from datetime import timedelta

    from dashboard import data

    open_days = on_demo_warehouse.query(
        "select asset_id, (open_at at time zone 'utc')::date from marts.fct_technical_indicators"
        " where interval = '1d' and not is_closed"
    )
    assert open_days, "the demo warehouse has no open daily candle: nothing to check"
    assets = tuple(sorted({a for a, _ in open_days}))
    newest = max(d for _, d in open_days)
    frame = data.ewma_volatility(assets, newest - timedelta(days=30), newest + timedelta(days=1))
    assert not frame.empty
    import pandas as pd

    shown = {
        (a, pd.Timestamp(d).date())
        for a, d in zip(frame["asset_id"], frame["price_date"], strict=True)
    }
    assert shown.isdisjoint(set(open_days))


def test_data_health_lists_the_dbt_results_recorded_in_the_warehouse(
    on_demo_warehouse: Warehouse,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    """No file path is involved: dbt's on-run-end hook wrote them to marts.dbt_run_results
    during the fixture's dbt build (with its own target directory)."""
    at = open_page("data_health")
    table = next(d.value for d in at.dataframe if "dbt_command" in d.value)
    assert len(table) > 100 and set(table["dbt_command"]) == {"build"}
    assert {"data test", "unit test"} <= set(table["kind"])
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["passed"]) == (table["status"] == "pass").sum() > 100
    assert "recorded in the warehouse by dbt's on-run-end hook" in page_text(at)


def test_dbt_results_show_each_tests_latest_run_failures_first(
    on_demo_warehouse: Warehouse, admin_dsn: str
) -> None:
    """A later invocation (say a `criptopipe dbt test` after the build) that failed one test:
    that test shows its new failure, first; every other test keeps its latest result."""
    import psycopg

    from dashboard import data
    from ingestion.services import postgres

    dsn = postgres.with_database(admin_dsn, on_demo_warehouse.database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        first = conn.execute(
            "select unique_id from marts.dbt_run_results where resource_type = 'test' "
            "order by unique_id limit 1"
        ).fetchone()
        assert first is not None
        (test_id,) = first
        conn.execute(
            """
            insert into marts.dbt_run_results
            select 'later-invocation', 'test', invocation_started_at + interval '1 hour',
                   unique_id, resource_type, node_name, 'fail', 3, 'Got 3 results', 0.1, now()
            from marts.dbt_run_results where unique_id = %s
            """,
            (test_id,),
        )
        try:
            data.clear_cache()
            results = data.dbt_test_results()
            assert results.iloc[0]["status"] == "fail" and results.iloc[0]["failures"] == 3
            assert results.iloc[0]["dbt_command"] == "test"
            assert (results["status"] == "fail").sum() == 1
            assert results["test"].is_unique
        finally:
            conn.execute(
                "delete from marts.dbt_run_results where invocation_id = 'later-invocation'"
            )
            data.clear_cache()


def test_risk_page_with_less_history_than_a_volatility_window_says_so(
    on_demo_warehouse: Warehouse,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    """Five days of history (as a fresh warehouse has): no 30-day volatility exists yet."""
    from datetime import timedelta

    [(first_day,)] = on_demo_warehouse.query("select min(price_date) from marts.fct_daily_returns")
    at = open_page("risk")
    at.date_input(key="_filter.dates").set_value((first_day, first_day + timedelta(days=4))).run()
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Not enough history for 30-day volatility" in text
    drawdowns = at.dataframe[0].value
    assert set(drawdowns["asset_id"]) == {"BTC", "ETH", "SOL"}
    assert drawdowns["volatility_30d_pct"].isna().all()


def test_brazil_premium_over_more_than_5000_hours_is_a_row_a_day(
    on_demo_warehouse: Warehouse,
) -> None:
    """A long range reads the premium by day: each day's last closed hour, as it stands."""
    from datetime import timedelta

    from dashboard import data

    [(first_day, last_day)] = on_demo_warehouse.query(
        "select min(open_at)::date, max(open_at)::date from marts.fct_brazil_premium"
    )
    start = last_day - timedelta(days=300)  # over a chart trace's 5,000 hours
    daily = data.brazil_premium(("BTC", "ETH"), start, last_day)
    hourly = data.brazil_premium(("BTC", "ETH"), first_day, last_day)  # every hour
    assert len(hourly) > 10 * len(daily) > 0
    hourly = hourly.assign(day=hourly["open_at"].dt.date)
    last_hours = hourly.loc[hourly.groupby(["asset_id", "day"])["open_at"].idxmax()]
    assert daily.reset_index(drop=True).equals(
        last_hours.drop(columns="day").reset_index(drop=True)
    )


def test_spreads_over_more_than_5000_hours_are_a_row_a_day(on_demo_warehouse: Warehouse) -> None:
    """A long range reads the spreads by day from the daily mart dbt pre-aggregates: the
    last hour's close, the largest deviation, the widest spread, the hours behind it."""
    from datetime import timedelta

    from dashboard import data

    [(first_day, last_day)] = on_demo_warehouse.query(
        "select min(open_at)::date, max(open_at)::date from marts.fct_cross_exchange_spreads"
    )
    start = last_day - timedelta(days=300)  # 7,224 hours: over a chart trace's 5,000
    assert data.spreads_are_daily(start, last_day)
    assert not data.spreads_are_daily(last_day - timedelta(days=90), last_day)
    daily = data.spreads(("BTC", "ETH"), start, last_day)
    hourly = data.spreads(("BTC", "ETH"), first_day, last_day)  # 60 days: every hour
    assert len(hourly) > 20 * len(daily) > 0
    days = daily["open_at"].dt.date
    assert not daily.assign(day=days).duplicated(["asset_id", "exchange_id", "day"]).any()
    hourly = hourly.assign(day=hourly["open_at"].dt.date)
    for row in daily.sample(5, random_state=1).itertuples():
        hours = hourly[
            (hourly["asset_id"] == row.asset_id)
            & (hourly["exchange_id"] == row.exchange_id)
            & (hourly["day"] == row.open_at.date())
        ]
        assert row.open_at == hours["open_at"].max()
        assert abs(row.deviation_bps) == hours["deviation_bps"].abs().max()
        assert row.spread_bps == hours["spread_bps"].max()
        assert row.hour_count == len(hours)
    # read from fct_cross_exchange_spreads_daily, not aggregated per page view
    [(mart_rows,)] = on_demo_warehouse.query(
        "select count(*) from marts.fct_cross_exchange_spreads_daily"
        " where asset_id in ('BTC', 'ETH') and price_date between %s and %s",
        [start, last_day],
    )
    assert len(daily) == mart_rows
