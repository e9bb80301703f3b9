{#
    Mercado Bitcoin's listing: one row per symbol (zipped from /symbols' parallel arrays at
    load time). A symbol trades when it is both listed and traded.
#}

with

source as (

    select * from {{ source('mercadobitcoin', 'symbols') }}

),

renamed as (

    select
        symbol as exchange_symbol,
        record ->> 'base-currency' as base_currency,
        record ->> 'currency' as quote_currency,
        record ->> 'description' as asset_description,
        coalesce((record ->> 'exchange-listed')::boolean, false) as is_listed,
        coalesce((record ->> 'exchange-traded')::boolean, false) as is_traded,
        coalesce(
            (record ->> 'exchange-listed')::boolean and (record ->> 'exchange-traded')::boolean,
            false
        ) as is_trading,
        last_seen_at = max(last_seen_at) over () as is_in_latest_listing,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
