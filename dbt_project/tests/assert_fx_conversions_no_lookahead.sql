-- No FX lookahead: truncate the FX history at an instant (keep only the rates available
-- by then), recompute the rates in force and the Brazil premium with the same macros,
-- and require every value at or before that instant to be identical to the published
-- ones. Two cutoffs: 10:00 UTC on the newest rate's day (before its 16:00 CET
-- publication: a conversion that took a day's rate for the whole day changes here), and
-- 15:30 UTC four days earlier (just after a publication in winter time).

with

rates as (

    select * from {{ ref('stg_fx__rates') }}
    where base_currency = 'USD'

),

published_rates as (

    select * from {{ ref('int_fx_rates_hourly') }}

),

published_premium as (

    select * from {{ ref('fct_brazil_premium') }}

),

cutoffs as (

    select
        'before_publication' as cutoff_name,
        (max(rate_date) + time '10:00') at time zone 'utc' as cutoff_at
    from rates
    union all
    select
        'after_publication' as cutoff_name,
        (max(rate_date) - 4 + time '15:30') at time zone 'utc' as cutoff_at
    from rates

),

{% for cutoff in ['before_publication', 'after_publication'] %}
rates_{{ cutoff }} as (

    select rates.*
    from rates
    inner join cutoffs
        on
            cutoffs.cutoff_name = '{{ cutoff }}'
            and rates.available_at <= cutoffs.cutoff_at

),

recomputed_rates_{{ cutoff }} as (

    {{ fx_rates_as_of(
        'rates_' ~ cutoff,
        "(select (max(published_rates.rate_at) at time zone 'utc')::date from published_rates)"
    ) }}

),

recomputed_usd_brl_{{ cutoff }} as (

    select * from recomputed_rates_{{ cutoff }}
    where quote_currency = 'BRL'

),

recomputed_premium_{{ cutoff }} as (

    {{ brazil_premium('recomputed_usd_brl_' ~ cutoff) }}

),

rate_differences_{{ cutoff }} as (

    select
        '{{ cutoff }}' as cutoff_name,
        'rate' as compared,
        coalesce(recomputed.quote_currency, published.quote_currency) as series,
        coalesce(recomputed.rate_at, published.rate_at) as compared_at
    from recomputed_rates_{{ cutoff }} as recomputed
    full outer join (
        select published_rates.*
        from published_rates
        inner join cutoffs
            on
                cutoffs.cutoff_name = '{{ cutoff }}'
                and published_rates.rate_at <= cutoffs.cutoff_at
    ) as published
        on
            recomputed.quote_currency = published.quote_currency
            and recomputed.rate_at = published.rate_at
    cross join cutoffs
    where
        cutoffs.cutoff_name = '{{ cutoff }}'
        and coalesce(recomputed.rate_at, published.rate_at) <= cutoffs.cutoff_at
        and (
            recomputed.rate_at is null
            or published.rate_at is null
            or recomputed.rate is distinct from published.rate
            or recomputed.published_rate_date is distinct from published.published_rate_date
        )

),

premium_differences_{{ cutoff }} as (

    select
        '{{ cutoff }}' as cutoff_name,
        'premium' as compared,
        coalesce(recomputed.asset_id, published.asset_id) as series,
        coalesce(recomputed.open_at, published.open_at) as compared_at
    from recomputed_premium_{{ cutoff }} as recomputed
    full outer join published_premium as published
        on
            recomputed.asset_id = published.asset_id
            and recomputed.open_at = published.open_at
    cross join cutoffs
    where
        cutoffs.cutoff_name = '{{ cutoff }}'
        and coalesce(recomputed.open_at, published.open_at) + interval '1 hour'
        <= cutoffs.cutoff_at
        and (
            recomputed.open_at is null
            or published.open_at is null
            or recomputed.usd_brl_rate is distinct from published.usd_brl_rate
            or recomputed.premium_pct is distinct from published.premium_pct
            or recomputed.consensus_close_price_brl
            is distinct from published.consensus_close_price_brl
        )

),

{% endfor %}
final as (

    select * from rate_differences_before_publication
    union all
    select * from rate_differences_after_publication
    union all
    select * from premium_differences_before_publication
    union all
    select * from premium_differences_after_publication

)

select * from final
