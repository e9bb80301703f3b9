{%- set listings = [
    ('binance', 'stg_binance__exchange_info'),
    ('kraken', 'stg_kraken__asset_pairs'),
    ('coinbase', 'stg_coinbase__products'),
    ('mercadobitcoin', 'stg_mercadobitcoin__symbols'),
] -%}

with

symbols as (

    select * from {{ ref('stg_ingestion__asset_symbols') }}

),

coverage as (

    select * from {{ ref('int_candle_coverage') }}

),

exchanges as (

    select distinct on (exchange_id)
        exchange_id,
        exchange_name,
        quote_currency,
        country_code,
        website_url
    from symbols
    order by exchange_id asc, resolved_at desc

),

tracked as (

    select
        exchange_id,
        count(distinct asset_id) filter (where is_requested and is_tracked) as asset_count
    from symbols
    group by exchange_id

),

listings as (

    {% for exchange_id, model in listings %}
    select
        '{{ exchange_id }}' as exchange_id,
        count(*) as listed_pair_count,
        count(*) filter (where is_trading) as trading_pair_count
    from {{ ref(model) }}
    where is_in_latest_listing
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

candle_coverage as (

    select
        exchange_id,
        min(first_open_at) as first_candle_at,
        max(last_open_at) as last_candle_at
    from coverage
    group by exchange_id

),

final as (

    select
        exchanges.exchange_id,
        exchanges.exchange_name,
        exchanges.quote_currency,
        exchanges.country_code,
        exchanges.website_url,
        coalesce(tracked.asset_count, 0) as asset_count,
        coalesce(listings.listed_pair_count, 0) as listed_pair_count,
        coalesce(listings.trading_pair_count, 0) as trading_pair_count,
        candle_coverage.first_candle_at,
        candle_coverage.last_candle_at
    from exchanges
    left join tracked
        on exchanges.exchange_id = tracked.exchange_id
    left join listings
        on exchanges.exchange_id = listings.exchange_id
    left join candle_coverage
        on exchanges.exchange_id = candle_coverage.exchange_id

)

select * from final
