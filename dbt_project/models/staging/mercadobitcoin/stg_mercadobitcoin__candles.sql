with

source as (

    select * from {{ source('mercadobitcoin', 'candles') }}

),

renamed as (

    select
        symbol as exchange_symbol,
        interval,
        open_time as open_at,
        open_time + {{ interval_duration('interval') }} as close_at,
        (record ->> 'o')::numeric as open_price,
        (record ->> 'h')::numeric as high_price,
        (record ->> 'l')::numeric as low_price,
        (record ->> 'c')::numeric as close_price,
        (record ->> 'v')::numeric as volume,
        open_time + {{ interval_duration('interval') }} <= last_seen_at as is_closed,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
