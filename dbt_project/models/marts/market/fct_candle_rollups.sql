{{
    config(
        materialized='incremental',
        tags=['partitioned'],
        unique_key=['exchange_id', 'asset_id', 'interval', 'open_at'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['last_seen_at']}],
        pre_hook="set local enable_nestloop = off",
    )
}}

{#
    Every candle interval rolled up from the finest interval loaded, per exchange and
    asset: 1m → 5m → 15m → 1h → 4h → 1d, each level from the one below it (first open,
    highest high, lowest low, last close, summed volume: the same as rolling the finest
    candles up directly, since the buckets nest). Next to each rollup, the exchange's own
    candle of that interval and open time when one is loaded (native_*), which the
    reconciliation test compares with it; fct_candles takes a rollup only where the
    exchange's own candle is missing (Coinbase has no 4h, Mercado Bitcoin no 5m or 4h).

    A finest candle the exchange is known to have none for (raw.known_empty: Coinbase
    sends no candle for an interval without trades) counts as covered: a rollup of the
    minutes that traded plus the known-empty ones is complete (known_empty_candles).

    A full refresh reads every candle with no window: a window the planner cannot see
    through (bounds from a subquery) makes it expect a handful of rows, and it then
    checked each known-empty period against every candle in turn (a nested loop over
    the candles: 32 of 38 s at 200 k candles, hours at 20 M).

    No nested loops (pre_hook, for this model's transaction only): the planner cannot
    estimate a chain of aggregated CTEs over a union of exchanges (it expected 30 candles
    of 74,301 in a day's window and 8 rollups of 63,688), and a nested loop it chooses on
    such a guess compares every row with every other. Measured at 200 k candles, the
    scheduled hour's query 6.2 s → 1.0 s, and 2.7 s → 3.1 s for the full refresh; where
    the planner guessed closer (int_candles_unioned joined per exchange), the full refresh
    took 22 s with nested loops and 3.7 s without. Every join here is a bulk join.

    Incremental: the candles touched by the run (macros/incremental_candles.sql) and the
    known-empty periods it recorded, widened to whole days, so every bucket they fall in
    is rebuilt from all its candles. A day's last minute without trades is recorded only
    by the next day's run (no page of its own day has a later minute): that run rebuilds
    the day's buckets, whose last_seen_at is then the record's (fct_candles picks them up).
#}

{%- set intervals = candle_intervals() -%}
{#- a full refresh renders no window, but the model reads one: the call records the macro
    in the manifest (the partitioned asset holds the models that call it) -#}
{%- do incremental_candles_condition() -%}
{%- set seconds = {'1m': 60, '5m': 300, '15m': 900, '1h': 3600, '4h': 14400, '1d': 86400} -%}

with

{% if is_incremental() %}
touched as (

    select
        min(touched_open_at.open_at) as first_open_at,
        max(touched_open_at.open_at) as last_open_at
    from (
        select open_at from {{ ref('int_candles_unioned') }}
        where
            interval <> '1d'
            {{ incremental_candles_condition() }}  -- noqa: LT02
        union all
        select period_start_at as open_at
        from {{ ref('stg_ingestion__known_empty_periods') }}
        where
            true
            {{ incremental_candles_condition('period_start_at', 'recorded_at') }}  -- noqa: LT02
    ) as touched_open_at

),

{# The whole days those candles fall in: every bucket they touch is rebuilt whole. #}
touched_days as (

    select
        date_bin('1 day', first_open_at, timestamptz 'epoch') as first_day_at,
        date_bin('1 day', last_open_at, timestamptz 'epoch') + interval '1 day' as end_day_at
    from touched

),

{% endif %}
candles as (

    select
        unioned.*,
        case unioned.interval
            {% for interval in intervals -%}
            when '{{ interval }}' then {{ seconds[interval] }}
            {% endfor -%}
        end as interval_seconds
    from {{ ref('int_candles_unioned') }} as unioned
    {% if is_incremental() %}
    where
        unioned.open_at >= (select touched_days.first_day_at from touched_days)
        and unioned.open_at < (select touched_days.end_day_at from touched_days)
    {% endif %}

),

finest as (

    select
        exchange_id,
        asset_id,
        min(interval_seconds) as interval_seconds
    from candles
    group by exchange_id, asset_id

),

{# The finest candles of each exchange and asset, in the columns of a level. #}
finest_candles as (

    select
        candles.exchange_id,
        candles.asset_id,
        candles.quote_currency,
        candles.interval as source_interval,
        candles.open_at,
        candles.open_price,
        candles.high_price,
        candles.low_price,
        candles.close_price,
        candles.volume,
        1 as source_candles,
        candles.interval_seconds as source_seconds,
        candles.is_closed,
        candles.fetched_at,
        candles.last_seen_at
    from candles
    inner join finest
        on
            candles.exchange_id = finest.exchange_id
            and candles.asset_id = finest.asset_id
            and candles.interval_seconds = finest.interval_seconds

),

{# Finest candles the exchange has none for (known-empty), and none loaded since. #}
known_empty as (

    select
        symbol_map.exchange_id,
        symbol_map.asset_id,
        empty_periods.interval as source_interval,
        empty_periods.period_start_at as open_at,
        empty_periods.recorded_at
    from {{ ref('stg_ingestion__known_empty_periods') }} as empty_periods
    inner join {{ ref('stg_ingestion__asset_symbols') }} as symbol_map
        on
            empty_periods.source_name = symbol_map.exchange_id
            and empty_periods.exchange_symbol = symbol_map.exchange_symbol
    inner join finest
        on
            symbol_map.exchange_id = finest.exchange_id
            and symbol_map.asset_id = finest.asset_id
    where
        not exists (
            select from candles
            where
                candles.exchange_id = symbol_map.exchange_id
                and candles.asset_id = symbol_map.asset_id
                and candles.interval = empty_periods.interval
                and candles.open_at = empty_periods.period_start_at
        ){% if is_incremental() %}
        and empty_periods.period_start_at >= (select touched_days.first_day_at from touched_days)
        and empty_periods.period_start_at
        < (select touched_days.end_day_at from touched_days){% endif %}

),

{# How many of them each bucket of each level holds. #}
known_empty_buckets as (

    {% for interval in intervals[1:] %}
    select
        exchange_id,
        asset_id,
        source_interval,
        '{{ interval }}' as interval,
        date_bin(
            interval '{{ seconds[interval] }} seconds', open_at, timestamptz 'epoch'
        ) as open_at,
        count(*)::integer as known_empty_candles,
        max(recorded_at) as recorded_at
    from known_empty
    group by
        exchange_id,
        asset_id,
        source_interval,
        date_bin(interval '{{ seconds[interval] }} seconds', open_at, timestamptz 'epoch')
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{# Level 0: the finest candles themselves; level k: level k-1 rolled into intervals[k]. #}
level_{{ intervals[0] }} as (

    select * from finest_candles
    where source_interval = '{{ intervals[0] }}'

),

{% for interval in intervals[1:] %}
{%- set below = intervals[loop.index - 1] %}
level_{{ interval }} as (

    select
        exchange_id,
        asset_id,
        quote_currency,
        min(source_interval) as source_interval,
        date_bin(
            interval '{{ seconds[interval] }} seconds', open_at, timestamptz 'epoch'
        ) as open_at,
        (array_agg(open_price order by open_at))[1] as open_price,
        max(high_price) as high_price,
        min(low_price) as low_price,
        (array_agg(close_price order by open_at desc))[1] as close_price,
        sum(volume) as volume,
        sum(source_candles)::integer as source_candles,
        min(source_seconds) as source_seconds,
        bool_and(is_closed) as is_closed,
        max(fetched_at) as fetched_at,
        max(last_seen_at) as last_seen_at
    from level_{{ below }}
    group by
        exchange_id,
        asset_id,
        quote_currency,
        date_bin(interval '{{ seconds[interval] }} seconds', open_at, timestamptz 'epoch')

    union all

    select * from finest_candles
    where source_interval = '{{ interval }}'

),

{% endfor %}
rollups as (

    {% for interval in intervals[1:] %}
    select
        *,
        '{{ interval }}' as interval,
        {{ seconds[interval] }} as interval_seconds
    from level_{{ interval }}
    where source_seconds < {{ seconds[interval] }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        rollups.exchange_id,
        rollups.asset_id,
        rollups.quote_currency,
        rollups.interval,
        rollups.open_at,
        rollups.open_at + make_interval(secs => rollups.interval_seconds) as close_at,
        rollups.source_interval,
        rollups.source_candles,
        rollups.interval_seconds / rollups.source_seconds as expected_source_candles,
        coalesce(empty_buckets.known_empty_candles, 0) as known_empty_candles,
        rollups.source_candles + coalesce(empty_buckets.known_empty_candles, 0)
        = rollups.interval_seconds / rollups.source_seconds as is_complete,
        rollups.open_price,
        rollups.high_price,
        rollups.low_price,
        rollups.close_price,
        rollups.volume,
        (
            rollups.is_closed
            and rollups.open_at + make_interval(secs => rollups.interval_seconds)
            <= greatest(rollups.last_seen_at, empty_buckets.recorded_at)
        ) as is_closed,
        native.exchange_id is not null as has_native,
        native.open_price as native_open_price,
        native.high_price as native_high_price,
        native.low_price as native_low_price,
        native.close_price as native_close_price,
        native.volume as native_volume,
        native.is_closed as is_native_closed,
        rollups.fetched_at,
        -- when the pipeline last saw the bucket: its candles, or a known-empty one recorded
        greatest(rollups.last_seen_at, empty_buckets.recorded_at) as last_seen_at
    from rollups
    left join candles as native
        on
            rollups.exchange_id = native.exchange_id
            and rollups.asset_id = native.asset_id
            and rollups.interval = native.interval
            and rollups.open_at = native.open_at
    left join known_empty_buckets as empty_buckets
        on
            rollups.exchange_id = empty_buckets.exchange_id
            and rollups.asset_id = empty_buckets.asset_id
            and rollups.interval = empty_buckets.interval
            and rollups.open_at = empty_buckets.open_at
            and rollups.source_interval = empty_buckets.source_interval

)

select * from final
