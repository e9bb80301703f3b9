with

assets as (

    select * from {{ ref('int_assets') }}

),

asset_metadata as (

    select * from {{ ref('int_asset_metadata_latest') }}

),

final as (

    select
        assets.asset_id,
        assets.coingecko_id,
        assets.asset_name,
        assets.is_stablecoin,
        assets.is_tracked,
        assets.exchange_count,
        asset_metadata.market_cap_rank,
        asset_metadata.current_price_usd,
        asset_metadata.market_cap_usd,
        asset_metadata.circulating_supply,
        asset_metadata.total_supply,
        asset_metadata.max_supply,
        asset_metadata.last_updated_at as market_data_updated_at,
        assets.resolved_at
    from assets
    left join asset_metadata
        on assets.asset_id = asset_metadata.asset_id

)

select * from final
