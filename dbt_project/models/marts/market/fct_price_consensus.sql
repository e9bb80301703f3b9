{{
    config(
        indexes=[{'columns': ['asset_id', 'interval', 'open_at'], 'unique': True}],
    )
}}

{#
    The consensus USD price per asset, candle interval and open time, one row each: the
    median close of the exchanges' closed candles quoting USD or USDT
    (int_price_consensus, the one definition). The dashboard reads prices from here.
#}

with

consensus as (

    select * from {{ ref('int_price_consensus') }}

),

final as (

    select
        asset_id,
        interval,
        open_at,
        close_at,
        consensus_close_price_usd,
        max(exchange_count) as exchange_count,
        min(close_price) as min_close_price_usd,
        max(close_price) as max_close_price_usd
    from consensus
    group by asset_id, interval, open_at, close_at, consensus_close_price_usd

)

select * from final
