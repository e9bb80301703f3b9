{#
    The length of a candle interval label ('1h', '1d') as a PostgreSQL interval.
    Candle sources store the interval as criptopipe's label, whatever the API called it
    (Kraken 60/1440, Coinbase 3600/86400).
#}
{% macro interval_duration(interval_column) -%}
    case {{ interval_column }}
        when '1h' then interval '1 hour'
        when '1d' then interval '1 day'
    end
{%- endmacro %}


{# Bookkeeping columns every staging model carries through from its raw table. #}
{% macro raw_bookkeeping_columns() -%}
        fetched_at,
        first_seen_at,
        last_seen_at,
        run_id as ingestion_run_id,
        lake_document_id
{%- endmacro %}
