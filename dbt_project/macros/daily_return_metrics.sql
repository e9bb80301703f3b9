{#
    Returns, rolling volatility and drawdown of daily prices, as one select over
    `daily_prices` (a relation or CTE with asset_id, price_date, close_price_usd,
    exchange_count). Every metric of a day uses that day and earlier days only, so the
    result for a day is the same whatever later history exists: the singular test
    assert_daily_returns_no_lookahead runs this macro on a truncated history and compares.

    * simple_return = close / previous close - 1, log_return = ln(close / previous close),
      only when the previous row is the previous calendar day (a gap gives null);
    * volatility_7d / volatility_30d = sample standard deviation of the log returns of
      the last 7 / 30 calendar days × sqrt(365), null until the window is full;
    * drawdown = close / highest close so far - 1 (0 at a new peak, negative below).
#}
{% macro daily_return_metrics(daily_prices) %}
    select
        asset_id,
        price_date,
        close_price_usd,
        exchange_count,
        round(simple_return, 10) as simple_return,
        round(log_return, 10) as log_return,
        case
            when return_count_7d = 7
                then round(stddev_7d * sqrt(365::numeric), 10)
        end as volatility_7d,
        case
            when return_count_30d = 30
                then round(stddev_30d * sqrt(365::numeric), 10)
        end as volatility_30d,
        running_peak_price_usd,
        round(close_price_usd / running_peak_price_usd - 1, 10) as drawdown
    from (
        select
            *,
            stddev_samp(log_return) over last_7_days as stddev_7d,
            count(log_return) over last_7_days as return_count_7d,
            stddev_samp(log_return) over last_30_days as stddev_30d,
            count(log_return) over last_30_days as return_count_30d,
            max(close_price_usd) over (
                partition by asset_id
                order by price_date
                rows between unbounded preceding and current row
            ) as running_peak_price_usd
        from (
            select
                asset_id,
                price_date,
                close_price_usd,
                exchange_count,
                case
                    when lag(price_date) over by_asset = price_date - 1
                        then close_price_usd / lag(close_price_usd) over by_asset - 1
                end as simple_return,
                case
                    when lag(price_date) over by_asset = price_date - 1
                        then ln(close_price_usd / lag(close_price_usd) over by_asset)
                end as log_return
            from {{ daily_prices }}
            window by_asset as (partition by asset_id order by price_date)
        ) as returns
        window
            last_7_days as (
                partition by asset_id
                order by price_date
                range between interval '6 days' preceding and current row
            ),
            last_30_days as (
                partition by asset_id
                order by price_date
                range between interval '29 days' preceding and current row
            )
    ) as rolling
{% endmacro %}
