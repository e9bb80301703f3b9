{#
    Mercado Bitcoin's closed BRL hourly close against the consensus USD close of the same
    hour converted at the USD/BRL rate in force at the hour's close (the newest ECB rate
    available then, carried forward over weekends, never a later rate):
    premium_pct = (BRL close / (consensus USD close × USD/BRL) - 1) × 100.
    Open candles take no part (int_price_consensus holds closed candles only). The
    computation is macros/brazil_premium.sql.
#}

with

brl_candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        exchange_id = 'mercadobitcoin'
        and interval = '1h'
        and quote_currency = 'BRL'
        and is_closed

),

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where interval = '1h'

),

usd_brl as (

    select * from {{ ref('int_fx_rates_hourly') }}
    where quote_currency = 'BRL'

),

premium as (

    {{ brazil_premium('brl_candles', 'consensus', 'usd_brl') }}

),

final as (

    select * from premium

)

select * from final
