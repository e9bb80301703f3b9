with

source as (

    select * from {{ source('coingecko', 'global') }}

),

renamed as (

    select
        updated_at,
        (record -> 'total_market_cap' ->> 'usd')::numeric as total_market_cap_usd,
        (record -> 'total_volume' ->> 'usd')::numeric as total_volume_usd,
        (record -> 'market_cap_percentage' ->> 'btc')::numeric as btc_dominance_pct,
        (record -> 'market_cap_percentage' ->> 'eth')::numeric as eth_dominance_pct,
        (record ->> 'market_cap_change_percentage_24h_usd')::numeric
            as market_cap_change_pct_24h,
        (record ->> 'active_cryptocurrencies')::integer as active_cryptocurrency_count,
        (record ->> 'markets')::integer as market_count,
        {{ raw_bookkeeping_columns() }}
    from source

),

deduplicated as (

    -- the newest version of each natural key (the loader keeps one, this keeps it so)
    select distinct on (updated_at) *
    from renamed
    order by updated_at asc, last_seen_at desc, fetched_at desc

),

final as (

    select * from deduplicated

)

select * from final
