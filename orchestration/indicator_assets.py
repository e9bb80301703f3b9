"""The pandas step of the pipeline: ``marts/fct_technical_indicators`` as a Dagster asset.

It follows the candle marts (``marts/fct_candles_hourly``, ``marts/fct_candles_daily``) and
feeds the Asset and Risk pages (the dbt exposures name it as the source
``pandas.fct_technical_indicators``, whose ``meta.dagster.asset_key`` is this asset's key).
Computation: ``orchestration.indicators``; table contract and incremental update:
``orchestration.indicator_store``.
"""

import time
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from orchestration import indicator_store
from orchestration.dbt_assets import DBT_FRESHNESS
from orchestration.resources import PostgresResource

INDICATORS_KEY = AssetKey(["marts", indicator_store.TABLE])
CANDLE_MART_KEYS = [AssetKey(["marts", mart]) for mart in indicator_store.CANDLE_MARTS.values()]
SYNC_CHECK = "in_sync_with_candle_marts"


class IndicatorsConfig(Config):
    """Run configuration of the indicators asset: ``full_refresh`` recomputes every series."""

    full_refresh: bool = Field(
        default=False, description="Recompute every series from its first candle."
    )


@asset(
    key=INDICATORS_KEY,
    deps=CANDLE_MART_KEYS,
    group_name="marts",
    kinds={"pandas", "postgres"},
    tags={"criptopipe/layer": "marts"},
    freshness_policy=DBT_FRESHNESS,
    description=(
        "Wilder RSI(14), MACD(12,26,9), RiskMetrics EWMA volatility (lambda 0.94), Bollinger "
        "bands (20, 2) and running drawdown per exchange, asset, interval and candle, "
        "computed with pandas from the candle marts. Incremental: only candles that are new "
        "or changed are recomputed, continuing each recursion from the stored state."
    ),
    metadata={
        "table": MetadataValue.text(indicator_store.QUALIFIED),
        "columns": MetadataValue.md(
            "\n".join(
                f"- `{c.name}` {c.data_type}: {c.description}" for c in indicator_store.COLUMNS
            )
        ),
    },
    check_specs=[
        AssetCheckSpec(
            SYNC_CHECK,
            asset=INDICATORS_KEY,
            description="Every candle of the candle marts has its indicator row, same close.",
        )
    ],
)
def fct_technical_indicators(
    context: AssetExecutionContext, config: IndicatorsConfig, postgres: PostgresResource
) -> MaterializeResult:
    """Update the indicators of every series whose candles changed, and check the table.

    The materialization reports the series and rows updated; the check fails when a candle of
    the candle marts has no indicator row or another close.
    """
    started = time.monotonic()
    with postgres.connect("transformer") as conn:
        summary = indicator_store.update(conn, datetime.now(UTC), full=config.full_refresh)
        remaining = indicator_store.differences(conn)
    context.log.info(
        "%d of %d series updated (%d in full), %d rows written",
        summary.series_updated,
        summary.series,
        summary.series_recomputed_in_full,
        summary.rows_written,
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": MetadataValue.int(summary.rows_total),
            "rows_written": MetadataValue.int(summary.rows_written),
            "series": MetadataValue.int(summary.series),
            "series_updated": MetadataValue.int(summary.series_updated),
            "series_recomputed_in_full": MetadataValue.int(summary.series_recomputed_in_full),
            "elapsed_seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
        },
        check_results=[
            AssetCheckResult(
                check_name=SYNC_CHECK,
                passed=remaining == 0,
                severity=AssetCheckSeverity.ERROR,
                metadata={"series_out_of_sync": remaining},
            )
        ],
    )


INDICATOR_ASSETS = [fct_technical_indicators]
