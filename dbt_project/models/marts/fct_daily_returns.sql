with

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where interval = '1d'

),

daily_prices as (

    -- a day counts once every exchange's daily candle of it has closed
    select
        asset_id,
        (open_at at time zone 'utc')::date as price_date,
        consensus_close_price_usd as close_price_usd,
        max(exchange_count) as exchange_count
    from consensus
    group by asset_id, open_at, consensus_close_price_usd
    having bool_and(is_closed)

),

metrics as (

    {{ daily_return_metrics('daily_prices') }}

),

final as (

    select * from metrics

)

select * from final
