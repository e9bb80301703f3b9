{#
    Which candles an incremental run of fct_candles_hourly / fct_candles_daily re-reads
    (an `and …` condition on int_candles_unioned), deleting and re-inserting them on the key:

    * with the vars partition_start and partition_end (ISO-8601, the half-open window of a
      partition or a backfill of a range of partitions; Dagster passes them as the
      environment variables CRIPTOPIPE_DBT_PARTITION_START / _END instead, because a
      change of --vars makes dbt re-parse the whole project on every run): exactly the
      candles that open in [partition_start, partition_end), however long ago their raw
      rows were seen. A backfill of an old range rebuilds that range and no other: Dagster
      ingests a candle partition by fetching exactly its window, so what a partition's
      load changed is what its dbt run rebuilds, and other partitions stay as their own
      last run left them. Plus the previous day's candles seen again during the window:
      today's partition run after midnight re-fetches yesterday's closing candles (the
      last hour, the day), and its dbt run carries them into the marts.
    * without them (a plain `dbt build`): every candle whose raw row was seen since the
      newest last_seen_at already loaded, minus var candles_lookback. A candle that
      closed or was corrected since, and a range backfilled outside Dagster, carry a new
      last_seen_at and are picked up.

    A first build and --full-refresh read everything, whatever the vars say.

    open_column / seen_column: the same condition on another relation's columns (the
    period a row is about, and when the pipeline recorded it): fct_candle_rollups reads
    raw.known_empty's period_start_at / recorded_at so.
#}
{% macro incremental_candles_condition(open_column='open_at', seen_column='last_seen_at') -%}
    {%- if is_incremental() -%}
        {%- set window = partition_window() -%}
        {%- if window -%}
            {{ partition_window_condition(window, open_column, seen_column) }}
        {%- else -%}
            and {{ seen_column }} >= (
                select max(already_loaded.last_seen_at) - '{{ var("candles_lookback") }}'::interval
                from {{ this }} as already_loaded
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#
    The partition window of this run ([start, end) as timestamptz literals) from the vars
    partition_start / partition_end or, as Dagster passes them, the environment; none
    without them. Read at run time only: parsing never sees them, so they never force a
    re-parse.
#}
{% macro partition_window() -%}
    {%- set partition_start = var('partition_start', none)
        or env_var('CRIPTOPIPE_DBT_PARTITION_START', '') -%}
    {%- set partition_end = var('partition_end', none)
        or env_var('CRIPTOPIPE_DBT_PARTITION_END', '') -%}
    {%- if partition_start or partition_end -%}
        {{ return((
            utc_timestamp_literal('partition_start', partition_start),
            utc_timestamp_literal('partition_end', partition_end),
        )) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{# The candles a partitioned run re-reads (see incremental_candles_condition), as `and …`. #}
{% macro partition_window_condition(
    window, open_column='open_at', seen_column='last_seen_at'
) -%}
    {%- set start_at, end_at = window -%}
    and {{ open_column }} >= {{ start_at }} - interval '1 day'
    and {{ open_column }} < {{ end_at }}
    and (
        {{ open_column }} >= {{ start_at }}
        or ({{ seen_column }} >= {{ start_at }} and {{ seen_column }} < {{ end_at }})
    )
{%- endmacro %}


{#
    A var holding an ISO-8601 timestamp as a timestamptz literal; a missing or malformed
    value stops the run (the value is parsed, so nothing but a timestamp reaches the SQL).
    A timestamp without an offset is taken as UTC.
#}
{% macro utc_timestamp_literal(var_name, value) -%}
    {%- if not value -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ var_name ~ " is required with partition_start / partition_end"
        ) }}
    {%- endif -%}
    {%- set text = (value | string | trim).replace('Z', '+00:00') -%}
    {%- set parsed = modules.datetime.datetime.fromisoformat(text) -%}
    {%- if parsed.tzinfo is none -%}
        {%- set parsed = parsed.replace(tzinfo=modules.pytz.utc) -%}
    {%- endif -%}
    '{{ parsed.isoformat() }}'::timestamptz
{%- endmacro %}
