with

quarantined_records as (

    select * from {{ ref('stg_ingestion__quarantined_records') }}

),

final as (

    select
        source_name,
        endpoint_name,
        quarantine_reason,
        count(*) as quarantined_count,
        count(*) filter (
            where quarantined_at >= now() - interval '24 hours'
        ) as quarantined_last_24h,
        count(*) filter (where not has_record) as unparsed_body_count,
        min(quarantined_at) as first_quarantined_at,
        max(quarantined_at) as last_quarantined_at
    from quarantined_records
    group by source_name, endpoint_name, quarantine_reason

)

select * from final
