{#
    The hourly spreads (fct_cross_exchange_spreads) a row per asset, UTC day and exchange:
    what the Cross-exchange page charts over ranges longer than a chart trace's 5,000
    hours. Aggregating a whole history on every page view took ~0.9 s at 20 M candles;
    this table is ~25x smaller than the hourly one and read by its primary key, and
    building it takes ~2 s at 20 M.

    A table rebuilt with the hourly mart (itself a table), not an incremental model: the
    incremental models are Dagster's partitioned dbt asset, and one that reads a table of
    the unpartitioned dbt asset closes a cycle between the two (the unpartitioned asset
    already reads the partitioned one: dim_exchanges <- int_candle_coverage).
#}

with

hourly as (

    select
        *,
        (open_at at time zone 'UTC')::date as price_date
    from {{ ref('fct_cross_exchange_spreads') }}

),

final as (

    select
        asset_id,
        price_date,
        exchange_id,
        max(open_at) as open_at,
        (array_agg(quote_currency order by open_at desc))[1] as quote_currency,
        (array_agg(close_price order by open_at desc))[1] as close_price,
        (array_agg(consensus_close_price_usd order by open_at desc))[1]
            as consensus_close_price_usd,
        (array_agg(deviation_bps order by abs(deviation_bps) desc nulls last, open_at desc))[1]
            as deviation_bps,
        bool_or(is_divergent) as is_divergent,
        max(spread_bps) as spread_bps,
        min(min_close_price_usd) as min_close_price_usd,
        max(max_close_price_usd) as max_close_price_usd,
        max(exchange_count) as exchange_count,
        count(*) as hour_count
    from hourly
    group by asset_id, price_date, exchange_id

)

select * from final
