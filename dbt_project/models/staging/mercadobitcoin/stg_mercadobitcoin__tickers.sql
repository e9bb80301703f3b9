with

source as (

    select * from {{ source('mercadobitcoin', 'tickers') }}

),

renamed as (

    select
        pair as exchange_symbol,
        ticker_at,
        (record ->> 'last')::numeric as last_price,
        (record ->> 'buy')::numeric as bid_price,
        (record ->> 'sell')::numeric as ask_price,
        (record ->> 'open')::numeric as open_price,
        (record ->> 'high')::numeric as high_price,
        (record ->> 'low')::numeric as low_price,
        (record ->> 'vol')::numeric as volume,
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
