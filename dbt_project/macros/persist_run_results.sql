{#
    on-run-end: every dbt invocation that runs nodes (build, run, test, seed, snapshot),
    whoever starts it (Dagster, `criptopipe dbt build`, docker compose, a plain `dbt build`),
    records one row per node result in marts.dbt_run_results, written by the transformer
    and readable by the reader, so the dashboard's Data health page shows the latest dbt
    results of whatever ran, on any machine. Invocations older than 30 days are pruned.
    Values are escaped with dbt.escape_single_quotes (dbt hooks have no bind parameters).
#}
{% macro persist_run_results(results) %}
{%- if execute and results -%}
create table if not exists marts.dbt_run_results (
    invocation_id text not null,
    command text not null,
    invocation_started_at timestamp with time zone not null,
    unique_id text not null,
    resource_type text not null,
    node_name text not null,
    status text not null,
    failures bigint,
    message text,
    execution_time_seconds double precision,
    recorded_at timestamp with time zone not null default now(),
    constraint dbt_run_results_pkey primary key (invocation_id, unique_id)
);
comment on table marts.dbt_run_results is
    'One row per node result of every dbt invocation (on-run-end hook, macros/persist_run_results.sql).';
delete from marts.dbt_run_results where invocation_started_at < now() - interval '30 days';
insert into marts.dbt_run_results (
    invocation_id, command, invocation_started_at, unique_id, resource_type, node_name,
    status, failures, message, execution_time_seconds
)
values
{%- for result in results %}
    (
        '{{ invocation_id }}',
        '{{ dbt.escape_single_quotes(flags.WHICH | string) }}',
        '{{ run_started_at.isoformat() }}',
        '{{ dbt.escape_single_quotes(result.node.unique_id) }}',
        '{{ dbt.escape_single_quotes(result.node.resource_type | string) }}',
        '{{ dbt.escape_single_quotes(result.node.name) }}',
        '{{ dbt.escape_single_quotes(result.status | string) }}',
        {{ result.failures if result.failures is not none else 'null' }},
        {% if result.message is not none -%}
        '{{ dbt.escape_single_quotes((result.message | string)[:2000]) }}'
        {%- else -%} null {%- endif %},
        {{ result.execution_time or 0 }}
    ){{ "," if not loop.last }}
{%- endfor %}
on conflict (invocation_id, unique_id) do update set
    status = excluded.status,
    failures = excluded.failures,
    message = excluded.message,
    execution_time_seconds = excluded.execution_time_seconds,
    recorded_at = now()
{%- endif -%}
{% endmacro %}
