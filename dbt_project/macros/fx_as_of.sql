{#
    The instant the ECB publishes the reference rate of `rate_date` (a date column): var
    fx_publication_time on that date in var fx_publication_timezone, as a timestamptz.
    The ECB publishes "around 16:00 CET"; Europe/Berlin follows CET and CEST.
#}
{% macro fx_publication_at(rate_date) -%}
    (({{ rate_date }} + '{{ var("fx_publication_time") }}'::time)
        at time zone '{{ var("fx_publication_timezone") }}')
{%- endmacro %}


{#
    For every hour instant from the first hour a currency's rate is available to the end of
    the calendar, the newest rate available at that instant, as one select over `rates` (a
    relation or CTE with quote_currency, rate_date, rate, available_at; USD base).

    "Newest available" = the latest ECB rate_date among the rates whose available_at is at
    or before the instant: a rate published at 16:00 CET applies from the first whole hour
    after it; weekends and holidays carry the last business day's rate forward; no instant
    ever sees a rate that was not yet available. The calendar ends at 00:00 UTC after
    `calendar_end_date` (a SQL date expression), so a daily candle of that day converts too.

    The running max over the calendar (one sort) replaces a correlated "newest rate at or
    before" lookup per instant, which the planner re-ran per candle. The rate of that date
    is carried forward by windows too, not joined back to `rates` on the running max: the
    planner estimates such a join at one row, and then (in the singular test
    assert_fx_conversions_no_lookahead, which runs this macro on truncated histories and
    compares) nested-loops every Brazil premium hour against every consensus hour.
#}
{% macro fx_rates_as_of(rates, calendar_end_date) %}
    select
        rate_at,
        'USD' as base_currency,
        quote_currency,
        max(setting_rate) over in_force as rate,
        published_rate_date,
        max(setting_available_at) over in_force as available_at
    from (
        select
            quote_currency,
            rate_at,
            published_rate_date,
            -- the hour a rate comes into force carries its values; count them to number
            -- the stretches each rate stays in force
            case when newest_rate_date = published_rate_date then newest_rate end
                as setting_rate,
            case when newest_rate_date = published_rate_date then newest_available_at end
                as setting_available_at,
            count(
                case when newest_rate_date = published_rate_date then 1 end
            ) over (
                partition by quote_currency
                order by rate_at
                rows between unbounded preceding and current row
            ) as in_force_number
        from (
            select
                calendar.quote_currency,
                calendar.rate_at,
                usable.newest_rate_date,
                usable.newest_rate,
                usable.newest_available_at,
                max(usable.newest_rate_date) over (
                    partition by calendar.quote_currency
                    order by calendar.rate_at
                    rows between unbounded preceding and current row
                ) as published_rate_date
            from (
                select
                    currencies.quote_currency,
                    calendar_hour as rate_at
                from (
                    select
                        quote_currency,
                        min(date_trunc('hour', available_at)) as first_hour
                    from {{ rates }}
                    group by quote_currency
                ) as currencies
                cross join lateral generate_series(
                    currencies.first_hour,
                    greatest(
                        ({{ calendar_end_date }} + 1)::timestamp at time zone 'utc',
                        currencies.first_hour
                    ),
                    interval '1 hour'
                ) as calendar_hour
            ) as calendar
            left join (
                -- per currency and first whole hour at or after a rate became available,
                -- the newest rate date that became available then, with its values
                select distinct on (quote_currency, usable_from)
                    quote_currency,
                    usable_from,
                    rate_date as newest_rate_date,
                    rate as newest_rate,
                    available_at as newest_available_at
                from (
                    select
                        quote_currency,
                        rate_date,
                        rate,
                        available_at,
                        date_trunc('hour', available_at)
                        + case
                            when available_at > date_trunc('hour', available_at)
                                then interval '1 hour'
                            else interval '0 hours'
                        end as usable_from
                    from {{ rates }}
                ) as rates_usable_from
                order by quote_currency, usable_from, rate_date desc
            ) as usable
                on
                    calendar.quote_currency = usable.quote_currency
                    and calendar.rate_at = usable.usable_from
        ) as as_of
        where published_rate_date is not null
    ) as in_force_rates
    window in_force as (partition by quote_currency, in_force_number)
{% endmacro %}
