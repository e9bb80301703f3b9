with

source as (

    select * from {{ source('kraken', 'ohlc') }}

),

renamed as (

    select
        pair as exchange_symbol,
        interval,
        open_time as open_at,
        open_time + {{ interval_duration('interval') }} as close_at,
        (record ->> 1)::numeric as open_price,
        (record ->> 2)::numeric as high_price,
        (record ->> 3)::numeric as low_price,
        (record ->> 4)::numeric as close_price,
        (record ->> 5)::numeric as vwap_price,
        (record ->> 6)::numeric as volume,
        (record ->> 7)::bigint as trade_count,
        open_time + {{ interval_duration('interval') }} <= last_seen_at as is_closed,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
