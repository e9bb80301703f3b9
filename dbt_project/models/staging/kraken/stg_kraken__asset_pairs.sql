{#
    Kraken's listing: one row per asset pair, keyed by Kraken's result name (XXBTZUSD).
    Base and quote are Kraken's own codes (XXBT, ZUSD); criptopipe's tickers for them come
    from the resolution in ingestion (stg_ingestion__asset_symbols), not from here.
#}

with

source as (

    select * from {{ source('kraken', 'asset_pairs') }}

),

renamed as (

    select
        pair as pair_key,
        record ->> 'altname' as altname,
        record ->> 'wsname' as wsname,
        record ->> 'base' as base_code,
        record ->> 'quote' as quote_code,
        coalesce(record ->> 'status', 'online') as listing_status,
        coalesce(record ->> 'status', 'online') in ('online', 'limit_only') as is_trading,
        (record ->> 'tick_size')::numeric as tick_size,
        (record ->> 'ordermin')::numeric as minimum_order_volume,
        last_seen_at = max(last_seen_at) over () as is_in_latest_listing,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
