{#
    One row per calendar day and currency from the currency's first published USD rate
    to the end of the calendar (today, UTC, or var fx_calendar_end_date). Each day
    carries the newest rate published on or before it: weekends and ECB holidays get the
    previous business day's rate, and no day ever sees a later rate.
#}
{%- set calendar_end_date = var('fx_calendar_end_date') -%}

with

rates as (

    select * from {{ ref('stg_fx__rates') }}
    where base_currency = 'USD'

),

currencies as (

    select
        quote_currency,
        min(rate_date) as first_rate_date
    from rates
    group by quote_currency

),

calendar_end as (

    select
        greatest(
            (select max(rates.rate_date) from rates),
            {% if calendar_end_date -%}
            '{{ calendar_end_date }}'::date
            {%- else -%}
            (now() at time zone 'utc')::date
            {%- endif %}
        ) as last_calendar_date

),

calendar as (

    select
        currencies.quote_currency,
        calendar_day::date as rate_date
    from currencies
    cross join calendar_end
    cross join lateral generate_series(
        currencies.first_rate_date::timestamp,
        calendar_end.last_calendar_date::timestamp,
        interval '1 day'
    ) as calendar_day

),

as_of_rates as (

    select
        calendar.quote_currency,
        calendar.rate_date,
        published.rate,
        published.rate_date as published_rate_date
    from calendar
    cross join lateral (
        select
            rates.rate,
            rates.rate_date
        from rates
        where
            rates.quote_currency = calendar.quote_currency
            and rates.rate_date <= calendar.rate_date
        order by rates.rate_date desc
        limit 1
    ) as published

),

final as (

    select
        rate_date,
        'USD' as base_currency,
        quote_currency,
        rate,
        published_rate_date,
        rate_date <> published_rate_date as is_carried_forward
    from as_of_rates

)

select * from final
