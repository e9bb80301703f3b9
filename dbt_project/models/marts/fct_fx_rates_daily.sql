with

fx_rates as (

    select * from {{ ref('int_fx_rates_daily') }}

),

final as (

    select
        rate_date,
        base_currency,
        quote_currency,
        rate,
        published_rate_date,
        is_carried_forward
    from fx_rates

)

select * from final
