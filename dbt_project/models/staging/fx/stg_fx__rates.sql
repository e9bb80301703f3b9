with

source as (

    select * from {{ source('fx', 'rates') }}

),

renamed as (

    select
        base_currency,
        quote_currency,
        rate_date,
        (record ->> 'rate')::numeric as rate,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
