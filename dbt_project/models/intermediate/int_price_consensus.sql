{{
    config(
        materialized='table',
        indexes=[{'columns': ['asset_id', 'interval', 'open_at']}],
        post_hook='analyze {{ this }}',
    )
}}

{#
    The consensus USD price of an asset per candle interval and open time: the median
    close across the exchanges quoting it in USD or USDT (USDT treated as USD), and each
    exchange's deviation from it in basis points. The median is computed exactly in
    numeric (percentile_cont would go through double precision).

    Closed candles only: an open candle's close is the price at its fetch, not at the
    candle's close, so open candles of different exchanges (fetched seconds or minutes
    apart) are not prices at one instant. Every closed close of an open time is the price
    at that one instant, close_at. This is the one definition of the consensus price:
    spreads, the Brazil premium, daily returns, reconciliation and fct_price_consensus
    (what the dashboard reads) all take it from here.
#}

with

candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        quote_currency in ('USD', 'USDT')
        and is_closed
        -- the hourly and daily consensus: minute candles (1m … 4h) are not priced here
        and interval in ('1h', '1d')

),

ranked as (

    select
        asset_id,
        interval,
        open_at,
        close_at,
        exchange_id,
        quote_currency,
        close_price,
        row_number() over (
            partition by asset_id, interval, open_at
            order by close_price, exchange_id
        ) as price_rank,
        count(*) over (partition by asset_id, interval, open_at) as exchange_count
    from candles

),

consensus as (

    -- the middle price, or the mean of the two middle prices for an even count
    select
        asset_id,
        interval,
        open_at,
        trim_scale(avg(close_price)) as consensus_close_price_usd
    from ranked
    where price_rank in ((exchange_count + 1) / 2, (exchange_count + 2) / 2)
    group by asset_id, interval, open_at

),

final as (

    select
        ranked.asset_id,
        ranked.interval,
        ranked.open_at,
        ranked.close_at,
        ranked.exchange_id,
        ranked.quote_currency,
        ranked.close_price,
        ranked.exchange_count,
        consensus.consensus_close_price_usd,
        round(
            (ranked.close_price / consensus.consensus_close_price_usd - 1) * 10000, 4
        ) as deviation_bps
    from ranked
    inner join consensus
        on
            ranked.asset_id = consensus.asset_id
            and ranked.interval = consensus.interval
            and ranked.open_at = consensus.open_at

)

select * from final
