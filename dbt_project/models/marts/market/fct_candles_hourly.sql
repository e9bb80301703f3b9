{{
    config(
        materialized='incremental',
        tags=['partitioned'],
        unique_key=['exchange_id', 'asset_id', 'open_at'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['last_seen_at']}],
    )
}}

{#
    Incremental: a plain run re-reads the candles whose raw rows were seen lately (var
    candles_lookback), a Dagster partition run exactly the candles opening in its window
    (vars partition_start / partition_end); see macros/incremental_candles.sql.
#}

{{ single_interval_candles('1h') }}
