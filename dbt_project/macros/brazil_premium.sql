{#
    The Brazil premium as one select: Mercado Bitcoin's closed BRL hourly candles against
    the hourly consensus (int_price_consensus, closed candles only), converted with
    `usd_brl` (a relation or CTE shaped like int_fx_rates_hourly's BRL rows: rate_at,
    rate, published_rate_date, available_at). Each hour converts at the rate in force at
    its close_at. fct_brazil_premium passes int_fx_rates_hourly; the singular test
    assert_fx_conversions_no_lookahead passes rates recomputed from a truncated FX history.
#}
{% macro brazil_premium(usd_brl) %}
    select
        brl_candles.asset_id,
        brl_candles.open_at,
        brl_candles.close_price as close_price_brl,
        hourly_consensus.consensus_close_price_usd,
        usd_brl.rate as usd_brl_rate,
        usd_brl.published_rate_date as fx_rate_date,
        usd_brl.available_at as fx_rate_available_at,
        trim_scale(hourly_consensus.consensus_close_price_usd * usd_brl.rate)
            as consensus_close_price_brl,
        round(
            (
                brl_candles.close_price
                / (hourly_consensus.consensus_close_price_usd * usd_brl.rate)
                - 1
            ) * 100,
            6
        ) as premium_pct,
        hourly_consensus.exchange_count
    from {{ ref('int_candles_unioned') }} as brl_candles
    inner join (
        select
            asset_id,
            open_at,
            consensus_close_price_usd,
            max(exchange_count) as exchange_count
        from {{ ref('int_price_consensus') }}
        where interval = '1h'
        group by asset_id, open_at, consensus_close_price_usd
    ) as hourly_consensus
        on
            brl_candles.asset_id = hourly_consensus.asset_id
            and brl_candles.open_at = hourly_consensus.open_at
    inner join {{ usd_brl }} as usd_brl
        on date_trunc('hour', brl_candles.close_at) = usd_brl.rate_at
    where
        brl_candles.exchange_id = 'mercadobitcoin'
        and brl_candles.interval = '1h'
        and brl_candles.quote_currency = 'BRL'
        and brl_candles.is_closed
{% endmacro %}
