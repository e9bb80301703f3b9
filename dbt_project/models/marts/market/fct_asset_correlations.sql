{#
    30-day rolling Pearson correlation of daily log returns for every ordered pair of
    assets (both A-B and B-A, so a heatmap needs no mirroring), over the days both have a
    return; null until the window holds var correlation_min_observations paired returns.
    The computation is macros/rolling_return_correlations.sql.
#}

with

daily_returns as (

    select * from {{ ref('fct_daily_returns') }}

),

correlations as (

    {{ rolling_return_correlations('daily_returns') }}

),

final as (

    select * from correlations

)

select * from final
