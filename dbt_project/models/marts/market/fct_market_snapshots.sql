with

global_metrics as (

    select * from {{ ref('stg_coingecko__global_metrics') }}

),

final as (

    select
        updated_at as snapshot_at,
        total_market_cap_usd,
        total_volume_usd,
        btc_dominance_pct,
        eth_dominance_pct,
        market_cap_change_pct_24h,
        active_cryptocurrency_count,
        market_count,
        fetched_at
    from global_metrics

)

select * from final
