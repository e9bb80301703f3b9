with

source as (

    select * from {{ source('kraken', 'ticker') }}

),

renamed as (

    select
        pair as exchange_symbol,
        observed_at as ticker_at,
        (record -> 'c' ->> 0)::numeric as last_price,
        (record -> 'b' ->> 0)::numeric as bid_price,
        (record -> 'a' ->> 0)::numeric as ask_price,
        (record ->> 'o')::numeric as open_price,
        (record -> 'h' ->> 1)::numeric as high_price,
        (record -> 'l' ->> 1)::numeric as low_price,
        (record -> 'p' ->> 1)::numeric as weighted_average_price,
        (record -> 'v' ->> 1)::numeric as volume,
        (record -> 't' ->> 1)::bigint as trade_count,
        {{ raw_bookkeeping_columns() }}
    from source

),

deduplicated as (

    -- the newest version of each natural key (the loader keeps one, this keeps it so)
    select distinct on (exchange_symbol, ticker_at) *
    from renamed
    order by exchange_symbol asc, ticker_at asc, last_seen_at desc, fetched_at desc

),

final as (

    select * from deduplicated

)

select * from final
