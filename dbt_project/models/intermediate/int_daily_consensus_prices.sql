{#
    One consensus USD close per asset and UTC day, from the exchanges' closed daily
    candles (int_price_consensus holds closed candles only): the current day, still open,
    has no row.
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

)

select * from final
