{{
    config(
        materialized='incremental',
        unique_key=['exchange_id', 'asset_id', 'open_at'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{#
    Incremental on the loader's clock, not on open time: a run re-reads every candle
    whose raw row was seen (last_seen_at) since the newest one already here, minus a
    lookback (var candles_lookback). A candle that closed or changed since, and an older
    range backfilled today, both carry a new last_seen_at, so both are picked up.
#}

with

candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        interval = '1d'
        {% if is_incremental() %}
        and last_seen_at >= (
            select max(already_loaded.last_seen_at) - '{{ var("candles_lookback") }}'::interval
            from {{ this }} as already_loaded
        )
        {% endif %}

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
