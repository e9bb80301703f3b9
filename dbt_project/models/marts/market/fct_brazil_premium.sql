{#
    Mercado Bitcoin's closed BRL hourly close against the consensus USD close of the same
    hour converted at the USD/BRL rate in force at the hour's close (the newest ECB rate
    available then, carried forward over weekends, never a later rate):
    premium_pct = (BRL close / (consensus USD close × USD/BRL) - 1) × 100.
    Open candles take no part (int_price_consensus holds closed candles only). The
    computation is macros/brazil_premium.sql.
#}

with

usd_brl as (

    select * from {{ ref('int_fx_rates_hourly') }}
    where quote_currency = 'BRL'

),

premium as (

    {{ brazil_premium('usd_brl') }}

),

final as (

    select * from premium

)

select * from final
