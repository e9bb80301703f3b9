{#
    30-day rolling Pearson correlation of daily log returns for every ordered pair of
    assets, as one select over `daily_returns` (asset_id, price_date, log_return). The
    window ends on the day and reaches 29 days back, never forward: the singular test
    assert_asset_correlations_no_lookahead runs this macro on a truncated history and
    compares. corr() works in double precision; the result is rounded to 8 decimals and
    null until the window holds var correlation_min_observations paired returns.
#}
{% macro rolling_return_correlations(daily_returns) %}
    select
        asset_id,
        other_asset_id,
        price_date,
        case
            when observation_count >= {{ var('correlation_min_observations') }}
                then round(rolling_correlation::numeric, 8)
        end as correlation_30d,
        observation_count
    from (
        select
            asset_id,
            other_asset_id,
            price_date,
            corr(log_return, other_log_return) over last_30_days as rolling_correlation,
            count(*) over last_30_days as observation_count
        from (
            select
                asset_returns.asset_id,
                other_returns.asset_id as other_asset_id,
                asset_returns.price_date,
                asset_returns.log_return,
                other_returns.log_return as other_log_return
            from {{ daily_returns }} as asset_returns
            inner join {{ daily_returns }} as other_returns
                on
                    asset_returns.price_date = other_returns.price_date
                    and asset_returns.asset_id <> other_returns.asset_id
            where
                asset_returns.log_return is not null
                and other_returns.log_return is not null
        ) as paired
        window last_30_days as (
            partition by asset_id, other_asset_id
            order by price_date
            range between interval '29 days' preceding and current row
        )
    ) as rolling
{% endmacro %}
