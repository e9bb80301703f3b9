{#
    One row per asset criptopipe has resolved (stg_ingestion__asset_symbols): its ids, name,
    whether it is a stablecoin and whether it is still configured, with its newest resolution.
#}

with

symbols as (

    select * from {{ ref('stg_ingestion__asset_symbols') }}

),

per_asset as (

    select
        asset_id,
        count(*) filter (where is_requested) as exchange_count
    from symbols
    group by asset_id

),

latest as (

    select distinct on (asset_id)
        asset_id,
        coingecko_id,
        asset_name,
        is_stablecoin,
        is_tracked,
        resolved_at
    from symbols
    order by asset_id asc, resolved_at desc

),

final as (

    select
        latest.asset_id,
        latest.coingecko_id,
        latest.asset_name,
        latest.is_stablecoin,
        latest.is_tracked,
        per_asset.exchange_count,
        latest.resolved_at
    from latest
    inner join per_asset
        on latest.asset_id = per_asset.asset_id

)

select * from final
