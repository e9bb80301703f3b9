{#
    One row per calendar day and currency: the rate in force at the end of the UTC day
    (00:00 UTC the next day), i.e. what a daily candle of that day converts at. On a
    business day that is the day's own ECB rate (published at 16:00 CET); weekends and
    holidays carry the previous business day's rate forward; never a later rate.
#}

with

fx_rates as (

    select * from {{ ref('int_fx_rates_hourly') }}
    where rate_at = date_trunc('day', rate_at at time zone 'utc') at time zone 'utc'

),

final as (

    select
        ((rate_at at time zone 'utc')::date - 1) as rate_date,
        base_currency,
        quote_currency,
        rate,
        published_rate_date,
        available_at,
        published_rate_date <> ((rate_at at time zone 'utc')::date - 1) as is_carried_forward
    from fx_rates

)

select * from final
