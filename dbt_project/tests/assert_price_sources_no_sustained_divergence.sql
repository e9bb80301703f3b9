{{ config(severity='error') }}

-- Fails (error severity: a blocking asset check in Dagster) when a price source has
-- strayed from the consensus by more than var divergence_threshold_bps for more than
-- var divergence_sustained_candles consecutive closed candles: a stale feed, a depeg, a
-- broken parser. Only streaks that reached that length within var
-- divergence_error_window of the newest observation count, so a divergence long past
-- (still in fct_price_reconciliation and in the warning test) does not block forever.

with

reconciliation as (

    select * from {{ ref('fct_price_reconciliation') }}

),

newest as (

    select max(observed_at) as newest_observed_at
    from reconciliation

),

final as (

    select
        reconciliation.asset_id,
        reconciliation.price_source,
        reconciliation.observed_at,
        reconciliation.deviation_bps,
        reconciliation.divergent_streak
    from reconciliation
    cross join newest
    where
        reconciliation.divergent_streak > {{ var('divergence_sustained_candles') }}
        and reconciliation.observed_at
        >= newest.newest_observed_at - '{{ var("divergence_error_window") }}'::interval

)

select * from final
