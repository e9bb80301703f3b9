with

assets as (

    select * from {{ ref('assets') }}

),

asset_metadata as (

    select * from {{ ref('int_asset_metadata_latest') }}

),

symbol_map as (

    select * from {{ ref('symbol_map') }}

),

exchange_listings as (

    select
        asset_id,
        count(distinct exchange_id) as exchange_count
    from symbol_map
    group by asset_id

),

final as (

    select
        assets.asset_id,
        assets.coingecko_id,
        assets.asset_name,
        assets.is_stablecoin,
        coalesce(exchange_listings.exchange_count, 0) as exchange_count,
        asset_metadata.market_cap_rank,
        asset_metadata.current_price_usd,
        asset_metadata.market_cap_usd,
        asset_metadata.circulating_supply,
        asset_metadata.total_supply,
        asset_metadata.max_supply,
        asset_metadata.last_updated_at as market_data_updated_at
    from assets
    left join asset_metadata
        on assets.asset_id = asset_metadata.asset_id
    left join exchange_listings
        on assets.asset_id = exchange_listings.asset_id

)

select * from final
