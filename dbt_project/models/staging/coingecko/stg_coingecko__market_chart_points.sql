with

source as (

    select * from {{ source('coingecko', 'market_chart') }}

),

renamed as (

    select
        coin_id,
        vs_currency,
        observed_at,
        (record -> 'prices' ->> 1)::numeric as price,
        (record -> 'market_caps' ->> 1)::numeric as market_cap,
        (record -> 'total_volumes' ->> 1)::numeric as total_volume,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
