with

source as (

    select * from {{ source('fear_greed', 'fng') }}

),

renamed as (

    select
        observed_on,
        to_timestamp((record ->> 'timestamp')::bigint) as observed_at,
        (record ->> 'value')::integer as index_value,
        record ->> 'value_classification' as index_classification,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
