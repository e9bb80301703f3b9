{{
    config(
        materialized='incremental',
        tags=['partitioned'],
        unique_key=['exchange_id', 'asset_id', 'interval'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{#
    Per candle series (exchange, asset, interval): the open times of its oldest and newest
    candle loaded. Incremental like the candle marts (macros/incremental_candles.sql): a run
    aggregates only the candles it re-reads and widens the span already loaded with them, so
    dim_exchanges reads a row per series instead of every candle. Candles are never
    deleted, so a span only widens; a --full-refresh recomputes it from every candle.
#}

with

candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        open_at is not null
        {{ incremental_candles_condition() }}  -- noqa: LT02

),

read_now as (

    select
        exchange_id,
        asset_id,
        interval,
        min(open_at) as first_open_at,
        max(open_at) as last_open_at,
        max(last_seen_at) as last_seen_at
    from candles
    group by exchange_id, asset_id, interval

),

{% if is_incremental() %}

widened as (

    select
        read_now.exchange_id,
        read_now.asset_id,
        read_now.interval,
        least(read_now.first_open_at, already_loaded.first_open_at) as first_open_at,
        greatest(read_now.last_open_at, already_loaded.last_open_at) as last_open_at,
        greatest(read_now.last_seen_at, already_loaded.last_seen_at) as last_seen_at
    from read_now
    left join {{ this }} as already_loaded
        on
            read_now.exchange_id = already_loaded.exchange_id
            and read_now.asset_id = already_loaded.asset_id
            and read_now.interval = already_loaded.interval

),

{% else %}

widened as (

    select * from read_now

),

{% endif %}

final as (

    select * from widened

)

select * from final
