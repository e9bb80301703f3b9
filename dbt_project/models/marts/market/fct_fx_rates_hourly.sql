{{
    config(
        indexes=[{'columns': ['quote_currency', 'rate_at'], 'unique': True}],
    )
}}

{#
    The USD rate in force at every hour instant (int_fx_rates_hourly): what the dashboard
    converts a price at an instant with, on the instant's hour (floored, so never later).
#}

with

fx_rates as (

    select * from {{ ref('int_fx_rates_hourly') }}

),

final as (

    select
        rate_at,
        base_currency,
        quote_currency,
        rate,
        published_rate_date,
        available_at
    from fx_rates

)

select * from final
