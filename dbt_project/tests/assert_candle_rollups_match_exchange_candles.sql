-- Fails on every closed exchange candle that differs from the rollup of the finest
-- candles loaded for it (complete and closed too) by more than the stated tolerance:
-- open, high, low and close within var rollup_price_tolerance_bps (1 bp) of the
-- exchange's price, volume within var rollup_volume_tolerance_pct (0.1 %) of its volume
-- (exchanges round each candle's volume, so a sum of 60 rounded minutes is not exact).

with

rollups as (

    select * from {{ ref('fct_candle_rollups') }}
    where has_native and is_complete and is_closed and is_native_closed

),

deviations as (

    select
        exchange_id,
        asset_id,
        interval,
        open_at,
        source_interval,
        greatest(
            abs(open_price - native_open_price) / native_open_price,
            abs(high_price - native_high_price) / native_high_price,
            abs(low_price - native_low_price) / native_low_price,
            abs(close_price - native_close_price) / native_close_price
        ) * 10000 as price_deviation_bps,
        abs(volume - native_volume) / nullif(native_volume, 0) * 100 as volume_deviation_pct,
        volume,
        native_volume
    from rollups

),

final as (

    select * from deviations
    where
        price_deviation_bps > {{ var('rollup_price_tolerance_bps') }}
        or coalesce(volume_deviation_pct, case when volume = 0 then 0 else 100 end)
        > {{ var('rollup_volume_tolerance_pct') }}

)

select * from final
