{#
    published_at: when the ECB publishes a reference rate, var fx_publication_time (16:00)
    in var fx_publication_timezone (Europe/Berlin, so CET or CEST) on the rate's own date.
    available_at: the instant the rate became known, the publication or, where it is
    earlier, the fetch that brought this version of the record. Conversions use the newest
    rate whose available_at is at or before the instant converted (int_fx_rates_hourly).
#}

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
        {{ fx_publication_at('rate_date') }} as published_at,
        least({{ fx_publication_at('rate_date') }}, fetched_at) as available_at,
        {{ raw_bookkeeping_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
