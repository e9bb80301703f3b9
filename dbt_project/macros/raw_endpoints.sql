{#
    The raw tables of the ingestion contract, as (source_name, endpoint_name) pairs: every
    source of this project whose meta names its Dagster ingestion asset
    raw/<source>/<endpoint>, as each staging folder's sources YAML declares it (nothing to
    add here for a new API). Used by the pipeline-health models to count loads per
    endpoint; a test in tests/dbt checks the sources against ingestion/raw_tables.py.
    Read from the graph, so only at execution time: while dbt parses, the list is empty.
#}
{% macro raw_endpoints() -%}
    {%- set endpoints = [] -%}
    {%- if execute -%}
        {%- for node in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- set asset_key = (node.meta.get('dagster') or {}).get('asset_key') or [] -%}
            {%- if node.package_name == project_name
                and asset_key | length == 3
                and asset_key[0] == 'raw'
                and asset_key[1] == node.source_name
                and asset_key[2] == node.name -%}
                {%- do endpoints.append((node.source_name, node.name)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(endpoints) }}
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
