{#
    Models land in exactly the schema their folder names (staging, intermediate, marts,
    snapshots, seeds), never "<target schema>_<custom schema>": the roles and grants of
    the warehouse are set up per schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
