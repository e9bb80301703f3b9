{{
    config(
        materialized='table',
        indexes=[{'columns': ['quote_currency', 'rate_at'], 'unique': True}],
        post_hook='analyze {{ this }}',
    )
}}

{#
    The USD rate in force at every hour instant, per currency: the newest ECB rate that was
    available then (stg_fx__rates.available_at: publication at 16:00 CET on its date, or
    the fetch where that came first). Weekends and holidays carry the last business day's
    rate forward; no instant sees a later rate. From the first hour a currency's rate is
    available to 00:00 UTC after the end of the calendar (today, UTC, or var
    fx_calendar_end_date). Conversions join on the instant they convert at (a candle's
    close_at); the computation is macros/fx_as_of.sql.

    A table, so the marts join an analysed relation with an index on
    (quote_currency, rate_at).
#}
{%- set calendar_end_date = var('fx_calendar_end_date') -%}

with

rates as (

    select * from {{ ref('stg_fx__rates') }}
    where base_currency = 'USD'

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

as_of_rates as (

    {{ fx_rates_as_of('rates', '(select calendar_end.last_calendar_date from calendar_end)') }}

),

final as (

    select
        rate_at,
        base_currency,
        quote_currency,
        rate,
        published_rate_date,
        available_at
    from as_of_rates

)

select * from final
