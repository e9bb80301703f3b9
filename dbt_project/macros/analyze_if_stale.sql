{#
    The marts' post-hook: `analyze` the model's table when its planner statistics are
    stale, as the marts built on marts (returns, correlations, sentiment) plan with them.

    Stale: never analyzed (a table build, a full refresh, an incremental model's first
    build), or more rows changed since the last analyze than
    `analyze_stale_share` of the rows it counted. An hourly incremental run of the candle
    marts rewrites today's partition, a small share of a long history: analyzing all of
    fct_candles on every run took 2.7 s at 20 M candles (a sample of 30,000 pages), whatever
    the run wrote. The rows it changes are counted once its transaction ends, so a run
    decides on the runs before it; autovacuum's own analyze follows the same rule.
#}
{% macro analyze_if_stale(relation) %}
    {%- set share = var('analyze_stale_share', 0.1) -%}
    do $analyze$
    begin
        if exists (
            select
            from pg_stat_user_tables as s
            inner join pg_class as c on s.relid = c.oid
            where
                s.relid = to_regclass('"{{ relation.schema }}"."{{ relation.identifier }}"')
                and (
                    coalesce(s.last_analyze, s.last_autoanalyze) is null
                    or s.n_mod_since_analyze > {{ share }} * greatest(c.reltuples, 0)
                )
        ) then
            analyze {{ relation }};
        end if;
    end
    $analyze$
{% endmacro %}
