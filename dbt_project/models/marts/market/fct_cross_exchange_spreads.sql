{#
    Closed hourly candles only (int_price_consensus): the open hour's candles, fetched at
    different moments, are never compared as if they were prices at one instant.
#}

with

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where interval = '1h'

),

hourly_range as (

    select
        asset_id,
        open_at,
        min(close_price) as min_close_price_usd,
        max(close_price) as max_close_price_usd
    from consensus
    group by asset_id, open_at

),

final as (

    select
        consensus.asset_id,
        consensus.open_at,
        consensus.exchange_id,
        consensus.quote_currency,
        consensus.close_price,
        consensus.consensus_close_price_usd,
        consensus.deviation_bps,
        abs(consensus.deviation_bps) > {{ var('divergence_threshold_bps') }} as is_divergent,
        consensus.exchange_count,
        hourly_range.min_close_price_usd,
        hourly_range.max_close_price_usd,
        round(
            (hourly_range.max_close_price_usd / hourly_range.min_close_price_usd - 1) * 10000, 4
        ) as spread_bps
    from consensus
    inner join hourly_range
        on
            consensus.asset_id = hourly_range.asset_id
            and consensus.open_at = hourly_range.open_at

)

select * from final
