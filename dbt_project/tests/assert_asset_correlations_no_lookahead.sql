-- No lookahead in fct_asset_correlations: recompute the rolling correlations from the
-- daily returns truncated a week before the newest day and require the mart's values
-- up to that day to be identical.

with

daily_returns as (

    select * from {{ ref('fct_daily_returns') }}

),

published as (

    select * from {{ ref('fct_asset_correlations') }}

),

cutoff as (

    select max(price_date) - 7 as cutoff_date
    from daily_returns

),

truncated_returns as (

    select daily_returns.*
    from daily_returns
    cross join cutoff
    where daily_returns.price_date <= cutoff.cutoff_date

),

recomputed as (

    {{ rolling_return_correlations('truncated_returns') }}

),

final as (

    select
        recomputed.asset_id,
        recomputed.other_asset_id,
        recomputed.price_date
    from recomputed
    left join published
        on
            recomputed.asset_id = published.asset_id
            and recomputed.other_asset_id = published.other_asset_id
            and recomputed.price_date = published.price_date
    where
        published.asset_id is null
        or recomputed.correlation_30d is distinct from published.correlation_30d
        or recomputed.observation_count <> published.observation_count

)

select * from final
