{#
    The candle columns every candle mart shares, keys and prices first, in their contract's
    order (fct_candles_hourly, fct_candles_daily, fct_candles): one list, so the marts
    cannot drift apart. Each mart adds its own closing columns after them.
#}
{% macro candle_columns() -%}
        exchange_id,
        asset_id,
        quote_currency,
        interval,
        open_at,
        close_at,
        open_price,
        high_price,
        low_price,
        close_price,
        volume,
{%- endmacro %}


{#
    The body of a mart of one interval's exchange candles (fct_candles_hourly: '1h',
    fct_candles_daily: '1d'): int_candles_unioned of that interval, read incrementally
    (macros/incremental_candles.sql).
#}
{% macro single_interval_candles(candle_interval) -%}
with

candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        interval = '{{ candle_interval }}'
        {{ incremental_candles_condition() }}  -- noqa: LT02

),

final as (

    select
        {{ candle_columns() }}
        is_closed,
        fetched_at,
        last_seen_at
    from candles

)

select * from final
{%- endmacro %}
