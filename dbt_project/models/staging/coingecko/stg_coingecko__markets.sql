with

source as (

    select * from {{ source('coingecko', 'markets') }}

),

renamed as (

    select
        coin_id,
        vs_currency,
        last_updated_at,
        upper(record ->> 'symbol') as coin_symbol,
        record ->> 'name' as coin_name,
        (record ->> 'current_price')::numeric as current_price,
        (record ->> 'market_cap')::numeric as market_cap,
        (record ->> 'market_cap_rank')::integer as market_cap_rank,
        (record ->> 'fully_diluted_valuation')::numeric as fully_diluted_valuation,
        (record ->> 'total_volume')::numeric as total_volume,
        (record ->> 'high_24h')::numeric as high_24h_price,
        (record ->> 'low_24h')::numeric as low_24h_price,
        (record ->> 'price_change_24h')::numeric as price_change_24h,
        (record ->> 'price_change_percentage_24h')::numeric as price_change_pct_24h,
        (record ->> 'circulating_supply')::numeric as circulating_supply,
        (record ->> 'total_supply')::numeric as total_supply,
        (record ->> 'max_supply')::numeric as max_supply,
        (record ->> 'ath')::numeric as all_time_high_price,
        (record ->> 'ath_date')::timestamptz as all_time_high_at,
        (record ->> 'atl')::numeric as all_time_low_price,
        (record ->> 'atl_date')::timestamptz as all_time_low_at,
        {{ raw_bookkeeping_columns() }}
    from source

),

deduplicated as (

    -- the newest version of each natural key (the loader keeps one, this keeps it so)
    select distinct on (coin_id, vs_currency, last_updated_at) *
    from renamed
    order by coin_id asc, vs_currency asc, last_updated_at asc, last_seen_at desc, fetched_at desc

),

final as (

    select * from deduplicated

)

select * from final
