{{
    config(
        indexes=[{'columns': ['asset_id', 'price_source', 'observed_at'], 'unique': True}],
    )
}}

{#
    Every price source checked against the consensus, one row per asset, source and
    observation, all at closed-candle instants:

    * each exchange quoting USD or USDT: its closed hourly close against the consensus of
      the same hour (int_price_consensus);
    * CoinGecko: each /coins/{id}/market_chart USD price point against the consensus of
      the hourly candle closing at the point's hour, when the point lies within var
      reconciliation_max_lag after that close (CoinGecko stamps its hourly points a few
      minutes past the hour; other points are not compared).

    is_divergent: |deviation_bps| > var divergence_threshold_bps. divergent_streak counts
    the consecutive divergent observations of the source up to this one (0 when it agrees),
    so a streak above var divergence_sustained_candles is a sustained divergence: the
    error-severity test assert_price_sources_no_sustained_divergence fails on it, while
    a shorter blip only warns (assert_price_sources_agree).
#}

with

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where interval = '1h'

),

chart_points as (

    select * from {{ ref('stg_coingecko__market_chart_points') }}
    where vs_currency = 'usd'

),

assets as (

    select * from {{ ref('int_assets') }}

),

hourly_consensus as (

    select distinct
        asset_id,
        close_at,
        consensus_close_price_usd,
        exchange_count
    from consensus

),

exchange_observations as (

    select
        asset_id,
        exchange_id as price_source,
        'exchange' as source_kind,
        close_at as observed_at,
        close_at as consensus_at,
        close_price as price_usd,
        consensus_close_price_usd,
        exchange_count
    from consensus

),

coingecko_observations as (

    select
        assets.asset_id,
        'coingecko' as price_source,
        'aggregator' as source_kind,
        chart_points.observed_at,
        hourly_consensus.close_at as consensus_at,
        chart_points.price as price_usd,
        hourly_consensus.consensus_close_price_usd,
        hourly_consensus.exchange_count
    from chart_points
    inner join assets
        on chart_points.coin_id = assets.coingecko_id
    inner join hourly_consensus
        on
            assets.asset_id = hourly_consensus.asset_id
            and date_trunc('hour', chart_points.observed_at) = hourly_consensus.close_at
    where
        chart_points.observed_at - hourly_consensus.close_at
        <= '{{ var("reconciliation_max_lag") }}'::interval

),

observations as (

    select * from exchange_observations
    union all
    select * from coingecko_observations

),

flagged as (

    select
        *,
        round((price_usd / consensus_close_price_usd - 1) * 10000, 4) as deviation_bps,
        abs(price_usd / consensus_close_price_usd - 1) * 10000
        > {{ var('divergence_threshold_bps') }} as is_divergent
    from observations

),

runs as (

    -- gaps and islands: consecutive observations with the same is_divergent share a run
    select
        *,
        row_number() over by_source
        - row_number() over (
            partition by asset_id, price_source, is_divergent order by observed_at
        ) as run_number
    from flagged
    window by_source as (partition by asset_id, price_source order by observed_at)

),

streaks as (

    select
        *,
        row_number() over (
            partition by asset_id, price_source, is_divergent, run_number
            order by observed_at
        ) as position_in_run
    from runs

),

final as (

    select
        asset_id,
        price_source,
        source_kind,
        observed_at,
        consensus_at,
        price_usd,
        consensus_close_price_usd,
        exchange_count,
        deviation_bps,
        is_divergent,
        case when is_divergent then position_in_run else 0 end as divergent_streak,
        (
            is_divergent
            and position_in_run > {{ var('divergence_sustained_candles') }}
        ) as is_sustained_divergence
    from streaks

)

select * from final
