{#
    Per raw table (source and endpoint): how many rows it holds and how recently they
    arrived. The tables are every raw source the sources YAML declares (raw_endpoints()),
    read directly: the staging models keep one row per natural key, as the loader does,
    so the counts are the same, and a new API's tables appear here with no edit.
#}

with

{% for source_name, endpoint_name in raw_endpoints() %}
{{ source_name }}__{{ endpoint_name }} as (

    select
        '{{ source_name }}' as source_name,
        '{{ endpoint_name }}' as endpoint_name,
        count(*) as row_count,
        count(*) filter (
            where fetched_at >= now() - interval '24 hours'
        ) as rows_fetched_last_24h,
        max(fetched_at) as last_fetched_at,
        max(last_seen_at) as last_seen_at
    from {{ source(source_name, endpoint_name) }}

),

{% endfor %}
unioned as (

    {% for source_name, endpoint_name in raw_endpoints() %}
    select * from {{ source_name }}__{{ endpoint_name }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select * from unioned

)

select * from final
