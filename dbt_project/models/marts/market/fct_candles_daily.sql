{{
    config(
        materialized='incremental',
        unique_key=['exchange_id', 'asset_id', 'open_at'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{#
    Incremental: a plain run re-reads the candles whose raw rows were seen lately (var
    candles_lookback), a Dagster partition run exactly the candles opening in its window
    (vars partition_start / partition_end); see macros/incremental_candles.sql.
#}

with

candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        interval = '1d'
        {{ incremental_candles_condition() }}  -- noqa: LT02

),

final as (

    select
        exchange_id,
        asset_id,
        quote_currency,
        interval,
        open_at,
        close_at,
        open_price,
        high_price,
        low_price,
        close_price,
        volume,
        is_closed,
        fetched_at,
        last_seen_at
    from candles

)

select * from final
