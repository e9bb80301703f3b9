{#
    Per raw table (source and endpoint): how many rows it holds and how recently they
    arrived, read through each table's staging model.
#}

with

{% for source_name, endpoint_name, model in raw_endpoints() %}
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
    from {{ ref(model) }}

),

{% endfor %}
unioned as (

    {% for source_name, endpoint_name, model in raw_endpoints() %}
    select * from {{ source_name }}__{{ endpoint_name }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select * from unioned

)

select * from final
