{#
    Mercado Bitcoin's BRL close against the consensus USD close converted at the USD/BRL
    rate as of that day (carried forward over weekends, never a later rate):
    premium_pct = (BRL close / (consensus USD close × USD/BRL) - 1) × 100.
#}

with

brl_candles as (

    select * from {{ ref('int_candles_unioned') }}
    where
        exchange_id = 'mercadobitcoin'
        and interval = '1h'
        and quote_currency = 'BRL'

),

consensus as (

    select * from {{ ref('int_price_consensus') }}
    where interval = '1h'

),

usd_brl as (

    select * from {{ ref('int_fx_rates_daily') }}
    where quote_currency = 'BRL'

),

hourly_consensus as (

    select
        asset_id,
        open_at,
        consensus_close_price_usd,
        max(exchange_count) as exchange_count,
        bool_and(is_closed) as is_closed
    from consensus
    group by asset_id, open_at, consensus_close_price_usd

),

joined as (

    select
        brl_candles.asset_id,
        brl_candles.open_at,
        brl_candles.close_price as close_price_brl,
        hourly_consensus.consensus_close_price_usd,
        hourly_consensus.exchange_count,
        usd_brl.rate as usd_brl_rate,
        usd_brl.published_rate_date as fx_rate_date,
        trim_scale(hourly_consensus.consensus_close_price_usd * usd_brl.rate)
            as consensus_close_price_brl,
        brl_candles.is_closed and hourly_consensus.is_closed as is_closed
    from brl_candles
    inner join hourly_consensus
        on
            brl_candles.asset_id = hourly_consensus.asset_id
            and brl_candles.open_at = hourly_consensus.open_at
    inner join usd_brl
        on (brl_candles.open_at at time zone 'utc')::date = usd_brl.rate_date

),

final as (

    select
        asset_id,
        open_at,
        close_price_brl,
        consensus_close_price_usd,
        usd_brl_rate,
        fx_rate_date,
        consensus_close_price_brl,
        round((close_price_brl / consensus_close_price_brl - 1) * 100, 6) as premium_pct,
        exchange_count,
        is_closed
    from joined

)

select * from final
