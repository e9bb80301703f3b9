with

exchanges as (

    select * from {{ ref('exchanges') }}

),

symbol_map as (

    select * from {{ ref('symbol_map') }}

),

candles as (

    select * from {{ ref('int_candles_unioned') }}

),

listings as (

    select
        exchange_id,
        count(distinct asset_id) as asset_count
    from symbol_map
    group by exchange_id

),

candle_coverage as (

    select
        exchange_id,
        min(open_at) as first_candle_at,
        max(open_at) as last_candle_at
    from candles
    group by exchange_id

),

final as (

    select
        exchanges.exchange_id,
        exchanges.exchange_name,
        exchanges.quote_currency,
        exchanges.country_code,
        exchanges.website_url,
        coalesce(listings.asset_count, 0) as asset_count,
        candle_coverage.first_candle_at,
        candle_coverage.last_candle_at
    from exchanges
    left join listings
        on exchanges.exchange_id = listings.exchange_id
    left join candle_coverage
        on exchanges.exchange_id = candle_coverage.exchange_id

)

select * from final
