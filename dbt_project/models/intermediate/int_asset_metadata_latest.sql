{#
    The newest CoinGecko /coins/markets row (in USD) of every tracked asset: name, symbol,
    rank, price, market cap and supply figures. The snapshot snap_asset_metadata keeps
    their history.
#}

with

markets as (

    select * from {{ ref('stg_coingecko__markets') }}
    where vs_currency = 'usd'

),

assets as (

    select * from {{ ref('int_assets') }}

),

latest_markets as (

    select distinct on (coin_id) *
    from markets
    order by coin_id asc, last_updated_at desc

),

final as (

    select
        assets.asset_id,
        latest_markets.coin_id,
        latest_markets.coin_symbol,
        latest_markets.coin_name,
        latest_markets.market_cap_rank,
        latest_markets.current_price as current_price_usd,
        latest_markets.market_cap as market_cap_usd,
        latest_markets.circulating_supply,
        latest_markets.total_supply,
        latest_markets.max_supply,
        latest_markets.last_updated_at
    from latest_markets
    inner join assets
        on latest_markets.coin_id = assets.coingecko_id

)

select * from final
