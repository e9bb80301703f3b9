"""Assets resolved from the listings in a run: bootstrap, halted pairs, unknown tickers.

A fresh warehouse, a configuration naming AVAX (never in a catalogue) and a run of one
endpoint: the listings are fetched first, AVAX resolves to AVAXUSDT, and the mapping is
stored. Halting the pair on the simulated exchange stops its requests, with a note; an
unknown ticker fails the endpoints that need the assets with close matches, and requests
nothing of theirs.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
from ingestion_support import SIM_NOW

from ingestion.run.ingest import run_ingestion
from ingestion.settings import Settings
from ingestion.simulator import FaultPlan, RunningSimulator


def _klines_symbols(sim: RunningSimulator) -> set[str]:
    return {
        r["query"].get("symbol", "")
        for r in sim.state.request_log("binance")
        if r["path"].endswith("/klines")
    }


async def test_a_fresh_warehouse_fetches_the_listings_first_and_resolves_any_asset(
    sim: RunningSimulator, sim_settings: Settings, loader_dsn: str
) -> None:
    settings = sim_settings.model_copy(
        update={
            "assets": ("BTC", "AVAX"),
            "markets_top_n": 20,  # AVAX's namesakes: the ranks of /coins/markets choose
            "candle_intervals": ("1d",),
            "start_date": (SIM_NOW - timedelta(days=2)).date(),
        }
    )
    summary = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    names = [e.name for e in summary.endpoints]
    assert names[0] == "binance/klines"  # what was asked for comes first …
    assert "binance/exchange_info" in names and "coingecko/coins_list" in names  # … bootstrap
    assert _klines_symbols(sim) == {"BTCUSDT", "AVAXUSDT"}
    klines = summary.endpoints[0]
    assert klines.symbols == {"BTC": "BTCUSDT", "AVAX": "AVAXUSDT"}
    with psycopg.connect(loader_dsn) as conn:
        rows = conn.execute(
            "select asset_id, exchange_id, exchange_symbol, response_symbol, coingecko_id,"
            " is_requested, reason from raw.asset_symbols order by 1, 2"
        ).fetchall()
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    assert by_key[("AVAX", "binance")] == ("AVAXUSDT", "AVAXUSDT", "avalanche-2", True, None)
    assert by_key[("BTC", "kraken")][:2] == ("XBTUSD", "XXBTZUSD")  # from AssetPairs
    assert by_key[("AVAX", "mercadobitcoin")] == (None, None, "avalanche-2", False, "not listed")

    # The pair is halted on the exchange: the next listing says BREAK, nothing is asked.
    sim.state.pair_status[("binance", "AVAXUSDT")] = "BREAK"
    sim.state.requests.clear()
    later = SIM_NOW + timedelta(hours=1)
    again = await run_ingestion(
        settings, sources=["binance"], endpoints=["exchange_info", "klines"], now=later
    )
    assert again.ok, [(e.name, e.error) for e in again.failed]
    assert _klines_symbols(sim) == {"BTCUSDT"}
    notes = next(e for e in again.endpoints if e.name == "binance/klines").notes
    assert any(
        n.startswith("halted or delisted on binance, no longer requested: AVAX (AVAXUSDT is BREAK")
        for n in notes
    ), notes


async def test_an_unknown_ticker_fails_with_close_matches_and_requests_nothing(
    sim: RunningSimulator, sim_settings: Settings, loader_dsn: str
) -> None:
    settings = sim_settings.model_copy(update={"assets": ("BTC", "ETHH"), "markets_top_n": 20})
    summary = await run_ingestion(settings, sources=["binance", "fear_greed"], now=SIM_NOW)
    by_name = {e.name: e for e in summary.endpoints}
    assert by_name["binance/exchange_info"].status == "success"  # the listing landed
    assert by_name["fear_greed/fng"].status == "success"  # it needs no assets
    klines = by_name["binance/klines"]
    assert klines.status == "failed"
    assert "unknown asset 'ETHH'" in str(klines.error) and "close matches: ETH" in str(klines.error)
    assert _klines_symbols(sim) == set()
    with psycopg.connect(loader_dsn) as conn:
        row = conn.execute(
            "select status, error from raw.ingestion_runs"
            " where run_id = %s and endpoint = 'klines'",
            [summary.run_id],
        ).fetchone()
    assert row is not None and row[0] == "failed" and "ETHH" in row[1]


async def test_a_run_of_endpoints_that_need_no_assets_fetches_no_listing(
    sim: RunningSimulator, sim_settings: Settings
) -> None:
    settings = sim_settings.model_copy(update={"assets": ("BTC", "ETHH")})  # not resolved
    summary = await run_ingestion(settings, sources=["fear_greed", "fx"], now=SIM_NOW)
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    assert [e.name for e in summary.endpoints] == ["fear_greed/fng", "fx/rates"]
    assert {r["source"] for r in sim.state.request_log()} == {"fear_greed", "fx"}


async def test_an_exchange_whose_listing_never_loaded_is_not_planned(
    sim: RunningSimulator, sim_settings: Settings
) -> None:
    # A fresh warehouse and Kraken's AssetPairs down: Kraken's pairs are unknown, so its
    # candles fail with that reason and are not requested; Binance goes on.
    sim.set_faults(FaultPlan.parse("kraken:server_error:p=1,endpoint=AssetPairs"))
    settings = sim_settings.model_copy(update={"candle_intervals": ("1h",)})
    summary = await run_ingestion(
        settings, sources=["kraken", "binance"], endpoints=["ohlc", "klines"], now=SIM_NOW
    )
    by_name = {e.name: e for e in summary.endpoints}
    assert by_name["binance/klines"].status == "success"
    ohlc = by_name["kraken/ohlc"]
    assert ohlc.status == "failed" and ohlc.requests == 0
    assert "the kraken/asset_pairs listing is not loaded" in str(ohlc.error)
    assert "HTTP 503" in str(ohlc.error)  # and why: the listing's own failure
    assert not [r for r in sim.state.request_log("kraken") if r["path"].endswith("/OHLC")]
