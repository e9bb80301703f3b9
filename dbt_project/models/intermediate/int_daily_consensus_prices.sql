{#
    One consensus USD close per asset and UTC day, from the exchanges' daily candles:
    a day counts once every contributing exchange's candle of it has closed.
#}

with

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where interval = '1d'

),

final as (

    select
        asset_id,
        (open_at at time zone 'utc')::date as price_date,
        consensus_close_price_usd as close_price_usd,
        max(exchange_count) as exchange_count
    from consensus
    group by asset_id, open_at, consensus_close_price_usd
    having bool_and(is_closed)

)

select * from final
