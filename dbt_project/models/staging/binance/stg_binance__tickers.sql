with

source as (

    select * from {{ source('binance', 'ticker_24hr') }}

),

renamed as (

    select
        symbol as exchange_symbol,
        close_time as ticker_at,
        to_timestamp((record ->> 'openTime')::bigint / 1000.0) as window_opened_at,
        (record ->> 'lastPrice')::numeric as last_price,
        (record ->> 'bidPrice')::numeric as bid_price,
        (record ->> 'askPrice')::numeric as ask_price,
        (record ->> 'openPrice')::numeric as open_price,
        (record ->> 'highPrice')::numeric as high_price,
        (record ->> 'lowPrice')::numeric as low_price,
        (record ->> 'weightedAvgPrice')::numeric as weighted_average_price,
        (record ->> 'priceChangePercent')::numeric as price_change_pct,
        (record ->> 'volume')::numeric as volume,
        (record ->> 'quoteVolume')::numeric as quote_volume,
        (record ->> 'count')::bigint as trade_count,
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
