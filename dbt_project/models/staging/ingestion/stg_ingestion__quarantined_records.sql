with

source as (

    select * from {{ source('ingestion', 'quarantine') }}

),

renamed as (

    select
        quarantine_id,
        run_id as ingestion_run_id,
        source as source_name,
        endpoint as endpoint_name,
        reason as quarantine_reason,
        record is not null as has_record,
        record,
        raw_text,
        lake_document_id,
        quarantined_at
    from source

),

final as (

    select * from renamed

)

select * from final
