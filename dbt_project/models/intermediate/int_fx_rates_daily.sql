{{
    config(
        materialized='table',
        indexes=[{'columns': ['quote_currency', 'rate_date'], 'unique': True}],
        post_hook='analyze {{ this }}',
    )
}}

{#
    One row per calendar day and currency from the currency's first published USD rate
    to the end of the calendar (today, UTC, or var fx_calendar_end_date). Each day
    carries the newest rate published on or before it: weekends and ECB holidays get the
    previous business day's rate, and no day ever sees a later rate.

    The as-of date is a running max over the calendar (one sort), not a lookup per day:
    a correlated "newest rate on or before the day" subquery was re-run per candle when
    the planner nested it inside fct_brazil_premium (minutes at 10x data). A table, so
    the marts join an analysed relation with an index on (quote_currency, rate_date).
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

calendar_with_publications as (

    -- the day's own rate date where the ECB published one, null on other days
    select
        calendar.quote_currency,
        calendar.rate_date,
        rates.rate_date as published_on_day
    from calendar
    left join rates
        on
            calendar.quote_currency = rates.quote_currency
            and calendar.rate_date = rates.rate_date

),

as_of_dates as (

    select
        quote_currency,
        rate_date,
        max(published_on_day) over (
            partition by quote_currency
            order by rate_date
            rows between unbounded preceding and current row
        ) as published_rate_date
    from calendar_with_publications

),

as_of_rates as (

    select
        as_of_dates.quote_currency,
        as_of_dates.rate_date,
        rates.rate,
        as_of_dates.published_rate_date
    from as_of_dates
    inner join rates
        on
            as_of_dates.quote_currency = rates.quote_currency
            and as_of_dates.published_rate_date = rates.rate_date

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
