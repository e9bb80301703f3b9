{#
    CoinGecko's coin list: one row per coin id. Symbols are lower case and shared by many
    coins (btc, eth, usdt…); which coin an asset is comes from the resolution in ingestion.
#}

with

source as (

    select * from {{ source('coingecko', 'coins_list') }}

),

renamed as (

    select
        coin_id,
        record ->> 'symbol' as coin_symbol,
        record ->> 'name' as coin_name,
        last_seen_at = max(last_seen_at) over () as is_in_latest_listing,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
