-- Fails on every row of fct_cross_exchange_spreads_daily that is not the aggregate of the
-- hourly spreads of its asset, exchange and UTC day (recomputed here another way: distinct
-- on for the last hour and the largest deviation), and on every day of the hourly mart
-- missing from it: the incremental builds never leave a day stale or out.

{%- set columns = [
    'asset_id', 'price_date', 'exchange_id', 'open_at', 'quote_currency', 'close_price',
    'consensus_close_price_usd', 'deviation_bps', 'is_divergent', 'spread_bps',
    'min_close_price_usd', 'max_close_price_usd', 'exchange_count', 'hour_count',
] %}

with

hourly as (

    select
        *,
        (open_at at time zone 'UTC')::date as price_date
    from {{ ref('fct_cross_exchange_spreads') }}

),

last_hours as (

    select distinct on (asset_id, exchange_id, price_date)
        asset_id,
        exchange_id,
        price_date,
        open_at,
        quote_currency,
        close_price,
        consensus_close_price_usd
    from hourly
    order by asset_id asc, exchange_id asc, price_date asc, open_at desc

),

largest_deviations as (

    select distinct on (asset_id, exchange_id, price_date)
        asset_id,
        exchange_id,
        price_date,
        deviation_bps
    from hourly
    order by
        asset_id asc,
        exchange_id asc,
        price_date asc,
        abs(deviation_bps) desc nulls last,
        open_at desc

),

day_totals as (

    select
        asset_id,
        exchange_id,
        price_date,
        bool_or(is_divergent) as is_divergent,
        max(spread_bps) as spread_bps,
        min(min_close_price_usd) as min_close_price_usd,
        max(max_close_price_usd) as max_close_price_usd,
        max(exchange_count) as exchange_count,
        count(*) as hour_count
    from hourly
    group by asset_id, exchange_id, price_date

),

expected as (

    select
        day_totals.asset_id,
        day_totals.price_date,
        day_totals.exchange_id,
        last_hours.open_at,
        last_hours.quote_currency,
        last_hours.close_price,
        last_hours.consensus_close_price_usd,
        largest_deviations.deviation_bps,
        day_totals.is_divergent,
        day_totals.spread_bps,
        day_totals.min_close_price_usd,
        day_totals.max_close_price_usd,
        day_totals.exchange_count,
        day_totals.hour_count
    from day_totals
    inner join last_hours
        on
            day_totals.asset_id = last_hours.asset_id
            and day_totals.exchange_id = last_hours.exchange_id
            and day_totals.price_date = last_hours.price_date
    inner join largest_deviations
        on
            day_totals.asset_id = largest_deviations.asset_id
            and day_totals.exchange_id = largest_deviations.exchange_id
            and day_totals.price_date = largest_deviations.price_date

),

built as (

    select
        asset_id,
        price_date,
        exchange_id,
        open_at,
        quote_currency,
        close_price,
        consensus_close_price_usd,
        deviation_bps,
        is_divergent,
        spread_bps,
        min_close_price_usd,
        max_close_price_usd,
        exchange_count,
        hour_count
    from {{ ref('fct_cross_exchange_spreads_daily') }}

),

missing_or_different as (

    select * from expected
    except
    select * from built

),

not_in_the_hourly_mart as (

    select * from built
    except
    select * from expected

),

final as (

    select
        'not as the hourly mart aggregates' as problem,
        {{ columns | join(', ') }}
    from missing_or_different
    union all
    select
        'no such day in the hourly mart' as problem,
        {{ columns | join(', ') }}
    from not_in_the_hourly_mart

)

select * from final
