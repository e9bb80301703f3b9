{#
    The resolved mapping ingestion writes after reading the listings (ingestion/asset_symbols.py):
    one row per configured asset and exchange, with the pair requested and the name the
    exchange answers with, or why there is none. The one source of every asset-to-symbol
    mapping downstream.
#}

with

source as (

    select * from {{ source('ingestion', 'asset_symbols') }}

),

renamed as (

    select
        asset_id,
        exchange_id,
        exchange_symbol,
        response_symbol,
        quote_currency,
        listing_status,
        is_requested,
        reason as not_requested_reason,
        coingecko_id,
        asset_name,
        is_stablecoin,
        exchange_name,
        exchange_country_code as country_code,
        exchange_website_url as website_url,
        is_tracked,
        resolved_at,
        run_id as ingestion_run_id
    from source

),

final as (

    select * from renamed

)

select * from final
