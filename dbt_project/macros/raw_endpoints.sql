{#
    The raw tables of the ingestion contract (ingestion/raw_tables.py) and the staging
    model that reads each: used by the pipeline-health models to count loads per
    endpoint. A test in tests/dbt checks this list against the contract.
#}
{% macro raw_endpoints() -%}
    {{ return([
        ('coingecko', 'markets', 'stg_coingecko__markets'),
        ('coingecko', 'global', 'stg_coingecko__global_metrics'),
        ('coingecko', 'market_chart', 'stg_coingecko__market_chart_points'),
        ('binance', 'klines', 'stg_binance__klines'),
        ('binance', 'ticker_24hr', 'stg_binance__tickers'),
        ('kraken', 'ohlc', 'stg_kraken__ohlc_candles'),
        ('kraken', 'ticker', 'stg_kraken__tickers'),
        ('coinbase', 'candles', 'stg_coinbase__candles'),
        ('fear_greed', 'fng', 'stg_fear_greed__index_values'),
        ('fx', 'rates', 'stg_fx__rates'),
        ('mercadobitcoin', 'tickers', 'stg_mercadobitcoin__tickers'),
        ('mercadobitcoin', 'candles', 'stg_mercadobitcoin__candles'),
    ]) }}
{%- endmacro %}


{#
    The freshness thresholds declared on the raw sources (the sources YAML is the one
    place they are written), as SQL rows: source_name, endpoint_name, warn_after,
    error_after (intervals). Read from the graph, so only at execution time.
#}
{% macro source_freshness_rules() -%}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- for node in graph.sources.values() -%}
            {%- set freshness = node.freshness or {} -%}
            {%- if node.package_name == project_name and freshness.get('warn_after') and freshness.warn_after.get('count') -%}
                {%- do rows.append(
                    "('" ~ node.source_name ~ "', '" ~ node.name ~ "', interval '"
                    ~ freshness.warn_after.count ~ " " ~ freshness.warn_after.period ~ "', interval '"
                    ~ freshness.error_after.count ~ " " ~ freshness.error_after.period ~ "')"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if rows -%}
        select * from (values {{ rows | join(', ') }})
            as rules (source_name, endpoint_name, warn_after, error_after)
    {%- else -%}
        select
            null::text as source_name,
            null::text as endpoint_name,
            null::interval as warn_after,
            null::interval as error_after
        where false
    {%- endif -%}
{%- endmacro %}
