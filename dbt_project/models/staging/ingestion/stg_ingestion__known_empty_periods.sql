with

source as (

    select * from {{ source('ingestion', 'known_empty') }}

),

renamed as (

    -- series is the request's series key joined by spaces: '<pair> <interval>' for candles
    select
        source as source_name,
        endpoint as endpoint_name,
        series,
        split_part(series, ' ', 1) as exchange_symbol,
        nullif(split_part(series, ' ', 2), '') as interval,
        period_start as period_start_at,
        reason as empty_reason,
        run_id as ingestion_run_id,
        recorded_at
    from source

),

final as (

    select * from renamed

)

select * from final
