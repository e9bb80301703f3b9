{#
    Coinbase Exchange's listing: one row per product, delisted ones included (status
    delisted, trading_disabled true).
#}

with

source as (

    select * from {{ source('coinbase', 'products') }}

),

renamed as (

    select
        product_id,
        record ->> 'base_currency' as base_currency,
        record ->> 'quote_currency' as quote_currency,
        record ->> 'status' as listing_status,
        coalesce((record ->> 'trading_disabled')::boolean, false) as is_trading_disabled,
        coalesce(
            record ->> 'status' = 'online'
            and not coalesce((record ->> 'trading_disabled')::boolean, false)
            and not coalesce((record ->> 'cancel_only')::boolean, false),
            false
        ) as is_trading,
        (record ->> 'quote_increment')::numeric as quote_increment,
        last_seen_at = max(last_seen_at) over () as is_in_latest_listing,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
