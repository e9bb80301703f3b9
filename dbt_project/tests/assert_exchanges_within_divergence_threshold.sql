{{ config(severity='warn') }}

-- Warns (never fails the build) when an exchange's closed hourly close strays from the
-- consensus by more than var divergence_threshold_bps: a stale feed, a depeg, a bad
-- print. One row per divergent exchange-hour.

with

spreads as (

    select * from {{ ref('fct_cross_exchange_spreads') }}

),

final as (

    select
        asset_id,
        open_at,
        exchange_id,
        close_price,
        consensus_close_price_usd,
        deviation_bps
    from spreads
    where is_divergent and is_closed

)

select * from final
