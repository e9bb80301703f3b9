{{
    config(
        materialized='incremental',
        tags=['partitioned'],
        unique_key=['exchange_id', 'asset_id', 'interval', 'open_at'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['last_seen_at']}],
    )
}}

{#
    Candles of every interval (1m, 5m, 15m, 1h, 4h, 1d), one row per exchange, asset,
    interval and open time: the exchange's own candle where it was loaded, else the
    rollup of the finest interval loaded (fct_candle_rollups; is_rollup says which).
    Incremental like fct_candles_hourly (macros/incremental_candles.sql), on both parts:
    an exchange candle that arrives later replaces the rollup of its key.
#}

with

native as (

    select
        {{ candle_columns() }}
        is_closed,
        false as is_rollup,
        interval as source_interval,
        1 as source_candles,
        fetched_at,
        last_seen_at
    from {{ ref('int_candles_unioned') }}
    where
        true
        {{ incremental_candles_condition() }}  -- noqa: LT02

),

rollups as (

    select
        {{ candle_columns() }}
        is_closed and is_complete as is_closed,
        true as is_rollup,
        source_interval,
        source_candles,
        fetched_at,
        last_seen_at
    from {{ ref('fct_candle_rollups') }}
    where
        not has_native
        {{ incremental_candles_condition() }}  -- noqa: LT02

),

final as (

    select * from native
    union all
    select * from rollups

)

select * from final
