{#
    The length of a candle interval label ('1m' … '1d') as a PostgreSQL interval.
    Candle sources store the interval as criptopipe's label, whatever the API called it
    (Kraken minutes, Coinbase granularity seconds); ingestion/intervals.py lists them.
#}
{% macro interval_duration(interval_column) -%}
    case {{ interval_column }}
        when '1m' then interval '1 minute'
        when '5m' then interval '5 minutes'
        when '15m' then interval '15 minutes'
        when '1h' then interval '1 hour'
        when '4h' then interval '4 hours'
        when '1d' then interval '1 day'
    end
{%- endmacro %}


{# Every candle interval label, finest first (as ingestion/intervals.py has them). #}
{% macro candle_intervals() -%}
    {{ return(['1m', '5m', '15m', '1h', '4h', '1d']) }}
{%- endmacro %}


{# Bookkeeping columns every staging model carries through from its raw table. #}
{% macro raw_bookkeeping_columns() -%}
        fetched_at,
        first_seen_at,
        last_seen_at,
        run_id as ingestion_run_id,
        lake_document_id
{%- endmacro %}
