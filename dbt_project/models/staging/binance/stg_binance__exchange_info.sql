{#
    Binance's listing: one row per symbol of exchangeInfo, delisted ones included (status
    BREAK; they still say isSpotTradingAllowed, so is_trading reads the status).
#}

with

source as (

    select * from {{ source('binance', 'exchange_info') }}

),

renamed as (

    select
        symbol as exchange_symbol,
        record ->> 'baseAsset' as base_asset,
        record ->> 'quoteAsset' as quote_asset,
        record ->> 'status' as listing_status,
        coalesce(record ->> 'status' = 'TRADING', false) as is_trading,
        (record ->> 'isSpotTradingAllowed')::boolean as is_spot_trading_allowed,
        last_seen_at = max(last_seen_at) over () as is_in_latest_listing,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
