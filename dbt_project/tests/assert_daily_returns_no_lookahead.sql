-- No lookahead in fct_daily_returns: recompute every metric from the daily prices
-- truncated at two cutoffs (two weeks and one day before the newest day)
-- and compare with the mart. A value that used a later day (a centred window, a peak
-- over the whole history, a lead()) differs on the truncated history and fails here.

with

daily_prices as (

    select * from {{ ref('int_daily_consensus_prices') }}

),

published as (

    select * from {{ ref('fct_daily_returns') }}

),

cutoffs as (

    select
        max(price_date) - 14 as middle_cutoff_date,
        max(price_date) - 1 as late_cutoff_date
    from daily_prices

),

history_to_middle as (

    select daily_prices.*
    from daily_prices
    cross join cutoffs
    where daily_prices.price_date <= cutoffs.middle_cutoff_date

),

history_to_late as (

    select daily_prices.*
    from daily_prices
    cross join cutoffs
    where daily_prices.price_date <= cutoffs.late_cutoff_date

),

recomputed as (

    select 'middle' as cutoff_name, metrics.*
    from ({{ daily_return_metrics('history_to_middle') }}) as metrics

    union all

    select 'late' as cutoff_name, metrics.*
    from ({{ daily_return_metrics('history_to_late') }}) as metrics

),

final as (

    select
        recomputed.cutoff_name,
        recomputed.asset_id,
        recomputed.price_date
    from recomputed
    left join published
        on
            recomputed.asset_id = published.asset_id
            and recomputed.price_date = published.price_date
    where
        published.asset_id is null
        or recomputed.simple_return is distinct from published.simple_return
        or recomputed.log_return is distinct from published.log_return
        or recomputed.volatility_7d is distinct from published.volatility_7d
        or recomputed.volatility_30d is distinct from published.volatility_30d
        or recomputed.running_peak_price_usd is distinct from published.running_peak_price_usd
        or recomputed.drawdown is distinct from published.drawdown

)

select * from final
