with

fear_greed as (

    select * from {{ ref('stg_fear_greed__index_values') }}

),

daily_returns as (

    select * from {{ ref('fct_daily_returns') }}
    where asset_id = 'BTC'

),

final as (

    select
        fear_greed.observed_on as sentiment_date,
        fear_greed.index_value as fear_greed_value,
        fear_greed.index_classification as fear_greed_classification,
        daily_returns.close_price_usd as btc_close_price_usd,
        daily_returns.simple_return as btc_simple_return,
        daily_returns.log_return as btc_log_return
    from fear_greed
    left join daily_returns
        on fear_greed.observed_on = daily_returns.price_date

)

select * from final
