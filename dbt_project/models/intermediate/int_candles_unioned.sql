{%- set exchange_candles = [
    ('binance', 'stg_binance__klines'),
    ('kraken', 'stg_kraken__ohlc_candles'),
    ('coinbase', 'stg_coinbase__candles'),
    ('mercadobitcoin', 'stg_mercadobitcoin__candles'),
] -%}

with

{% for exchange_id, model in exchange_candles %}
{{ exchange_id }}_candles as (

    select
        '{{ exchange_id }}' as exchange_id,
        exchange_symbol,
        interval,
        open_at,
        close_at,
        open_price,
        high_price,
        low_price,
        close_price,
        volume,
        is_closed,
        fetched_at,
        last_seen_at
    from {{ ref(model) }}

),

{% endfor %}
symbol_map as (

    -- every pair a resolution named, halted ones too: their history keeps its asset
    select
        exchange_id,
        response_symbol as exchange_symbol,
        asset_id,
        quote_currency
    from {{ ref('stg_ingestion__asset_symbols') }}
    where response_symbol is not null

),

unioned as (

    {% for exchange_id, model in exchange_candles %}
    select * from {{ exchange_id }}_candles
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

mapped as (

    select
        unioned.exchange_id,
        symbol_map.asset_id,
        symbol_map.quote_currency,
        unioned.interval,
        unioned.open_at,
        unioned.close_at,
        unioned.exchange_symbol,
        unioned.open_price,
        unioned.high_price,
        unioned.low_price,
        unioned.close_price,
        unioned.volume,
        unioned.is_closed,
        unioned.fetched_at,
        unioned.last_seen_at
    from unioned
    inner join symbol_map
        on
            unioned.exchange_id = symbol_map.exchange_id
            and unioned.exchange_symbol = symbol_map.exchange_symbol

),

final as (

    select * from mapped

)

select * from final
