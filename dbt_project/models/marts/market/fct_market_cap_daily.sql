{#
    Market cap history from CoinGecko's daily history (/coins/{id}/market_chart): one row
    per UTC day and tracked asset with its price, market cap and 24 h volume in USD, and
    the day's totals across the tracked assets.

    market_chart has a point at 00:00 UTC for every day and, at each fetch, one more point
    at the fetch time (the last intraday value), which raw keeps as a point of its own.
    A closed day takes its 00:00 point (its newest point when it has none); the current
    UTC day (var current_date_utc, null = the build's date) takes its newest point.
#}
{%- set current_date_utc = var('current_date_utc') -%}
{%- set current_date_sql = (
    "'" ~ modules.datetime.date.fromisoformat(current_date_utc | string) ~ "'::date"
    if current_date_utc else "(now() at time zone 'utc')::date"
) -%}

with

chart_points as (

    select * from {{ ref('stg_coingecko__market_chart_points') }}
    where vs_currency = 'usd'

),

assets as (

    select * from {{ ref('int_assets') }}

),

points as (

    select
        assets.asset_id,
        assets.coingecko_id,
        chart_points.observed_at,
        (chart_points.observed_at at time zone 'utc')::date as price_date,
        chart_points.price as price_usd,
        chart_points.market_cap as market_cap_usd,
        chart_points.total_volume as volume_usd
    from chart_points
    inner join assets
        on chart_points.coin_id = assets.coingecko_id

),

current_day as (

    select {{ current_date_sql }} as current_date_utc

),

day_points as (

    select distinct on (points.asset_id, points.price_date)
        points.*,
        points.price_date < current_day.current_date_utc as is_closed
    from points
    cross join current_day
    where points.price_date <= current_day.current_date_utc
    order by
        points.asset_id asc,
        points.price_date asc,
        -- a closed day: the 00:00 point first; otherwise (and today) the newest point
        (
            points.price_date < current_day.current_date_utc
            and points.observed_at = points.price_date::timestamp at time zone 'utc'
        ) desc,
        points.observed_at desc

),

final as (

    select
        price_date,
        asset_id,
        coingecko_id,
        observed_at,
        price_usd,
        market_cap_usd,
        volume_usd,
        sum(market_cap_usd) over same_day as total_market_cap_usd,
        sum(volume_usd) over same_day as total_volume_usd,
        count(market_cap_usd) over same_day as asset_count,
        round(
            market_cap_usd / nullif(sum(market_cap_usd) over same_day, 0) * 100, 6
        ) as market_cap_share_pct,
        is_closed
    from day_points
    window same_day as (partition by price_date)

)

select * from final
