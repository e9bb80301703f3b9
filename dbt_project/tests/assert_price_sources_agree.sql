{{ config(severity='warn') }}

-- Warns (never fails the build) on every observation of a price source (an exchange's
-- closed hourly close, a CoinGecko price point) that strays from the consensus by more
-- than var divergence_threshold_bps: a one-candle blip is worth a look, not a stop.
-- A sustained divergence fails assert_price_sources_no_sustained_divergence.

with

reconciliation as (

    select * from {{ ref('fct_price_reconciliation') }}

),

final as (

    select
        asset_id,
        price_source,
        observed_at,
        price_usd,
        consensus_close_price_usd,
        deviation_bps,
        divergent_streak
    from reconciliation
    where is_divergent

)

select * from final
