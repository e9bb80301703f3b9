with

source as (

    select * from {{ source('ingestion', 'ingestion_runs') }}

),

renamed as (

    select
        run_id as ingestion_run_id,
        source as source_name,
        endpoint as endpoint_name,
        started_at,
        finished_at,
        status as run_status,
        status = 'success' as is_success,
        requests as request_count,
        retries as retry_count,
        fetched as fetched_count,
        inserted as inserted_count,
        updated as updated_count,
        unchanged as unchanged_count,
        quarantined as quarantined_count,
        lake_documents as lake_document_count,
        error as error_message,
        notes
    from source

),

final as (

    select * from renamed

)

select * from final
